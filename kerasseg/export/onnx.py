"""ONNX export through tf2onnx, run with onnxruntime.

Path taken, and why (tf2onnx 1.17, TF 2.21, Keras 3.15):

* `tf2onnx.convert.from_keras` does not handle Keras 3 models, and `tf2onnx.convert.from_function` leaves
  the constants that Keras 3 captures into the traced graph (e.g. the `Normalization` mean and variance) as
  extra graph INPUTS, so onnxruntime then refuses to run without them. The model is therefore traced with
  `tf.function`, frozen with `convert_variables_to_constants_v2` (variables and captured constants become
  graph constants) and converted with `tf2onnx.convert.from_graph_def`.
* The ENet graph converts with dynamic batch, height and width (the export-safe max-unpooling is plain
  SpaceToDepth / Equal / Where / DepthToSpace), so `input_size=None` gives a fully dynamic `image` input.
  Height and width must still be multiples of the architecture's size divisor (8 for ENet): unlike the
  SavedModel signature, the ONNX graph does not pad.
* `large_model=True` is never used (tf2onnx 1.17 calls `np.product`, removed in numpy 2).
* Graph input and output are renamed to `image` and `logits`.
* tf2onnx deep-copies the whole graph before each of its ~15 optimizers, in every optimisation round, so that a
  failing optimizer can be skipped (a quarter of ENet's export time). The conversion first runs without the
  copies (tf2onnx's `TF2ONNX_CATCH_ERRORS` switch) and is redone with them only if an optimizer fails.
* tf2onnx's conversion is single-threaded Python (its transpose optimizer alone is ~40% of it).
  `start_export_onnx` freezes the graph in the calling process and converts it in a child process
  (`python -m kerasseg.export.onnx`, the job on its stdin), so that `export_model` writes the other formats
  meanwhile.
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from kerasseg.export.savedmodel import INPUT_NAME
from kerasseg.export.tflite import resolve_input_size
from kerasseg.registry import size_divisor

OUTPUT_NAME = "logits"
#: ONNX metadata_props key holding the model's size divisor.
SIZE_DIVISOR_KEY = "kerasseg.size_divisor"


def _frozen_graph(model, input_shape):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda image: {OUTPUT_NAME: tf.cast(model(image, training=False), tf.float32)})
    concrete = fn.get_concrete_function(tf.TensorSpec(input_shape, tf.float32, name=INPUT_NAME))
    frozen = convert_variables_to_constants_v2(concrete)
    inputs = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    outputs = [t.name for t in frozen.outputs]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"model {model.name!r}: expected one input and one output, got {inputs} -> {outputs}.")
    return frozen.graph.as_graph_def(), inputs[0], outputs[0]


def _rename_value(graph, old, new):
    """Renames a graph input/output value everywhere it is produced or consumed."""
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


@contextlib.contextmanager
def _environment(name, value):
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _convert(graph_def, input_name, output_name, opset):
    """tf2onnx's conversion of a frozen graph: without the per-optimizer graph copies first (same result when no
    optimizer fails), then, if one failed, again with them (tf2onnx skips the failing optimizer)."""
    import tf2onnx

    def convert():
        with tf.Graph().as_default():
            return tf2onnx.convert.from_graph_def(
                graph_def, input_names=[input_name], output_names=[output_name], opset=int(opset))[0]

    try:
        with _environment(tf2onnx.constants.ENV_TF2ONNX_CATCH_ERRORS, "FALSE"):
            return convert()
    except Exception:  # an optimizer failed: let tf2onnx skip it, as its default does
        return convert()


def _graph_for_onnx(model, input_size):
    """The model's frozen inference graph, batch dynamic: (graph_def, input name, output name)."""
    if input_size is None:
        height, width = tuple(model.inputs[0].shape)[1:3]
    else:
        height, width = resolve_input_size(model, input_size)
    return _frozen_graph(model, [None, height, width, 3])


def _write_onnx(graph_def, input_name, output_name, path, opset, model_name, divisor):
    """Converts a frozen graph (`_graph_for_onnx`) to ONNX, names its input and output, checks it, writes `path`."""
    import onnx

    model_proto = _convert(graph_def, input_name, output_name, opset)
    _rename_value(model_proto.graph, input_name, INPUT_NAME)
    _rename_value(model_proto.graph, output_name, OUTPUT_NAME)
    for value in (model_proto.graph.input[0], model_proto.graph.output[0]):
        for dim, label in zip(value.type.tensor_type.shape.dim, ("batch", "height", "width")):
            if not dim.HasField("dim_value"):
                dim.dim_param = label
    model_proto.doc_string = f"kerasseg {model_name}: float32 RGB image [B,H,W,3] in [0,255] -> logits [B,H,W,C]"
    # Height and width must be multiples of this (the graph does not pad); `kerasseg.inference` reads it.
    onnx.helper.set_model_props(model_proto, {SIZE_DIVISOR_KEY: str(int(divisor))})
    onnx.checker.check_model(model_proto)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model_proto, path)
    return path


def export_onnx(model, path, opset=17, input_size=None):
    """Converts the model to ONNX and writes it to `path`.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        path: the `.onnx` file to write (parent directories are created).
        opset: ONNX opset version.
        input_size: (height, width) to fix the spatial size, or None for the model's own input size (dynamic
            height and width for models built with `input_shape=(None, None, 3)`). The batch is dynamic.

    Returns:
        `path` (a str).

    Raises:
        ValueError: `input_size` is not (height, width) positive multiples of the model's size divisor.
    """
    graph_def, input_name, output_name = _graph_for_onnx(model, input_size)
    return _write_onnx(graph_def, input_name, output_name, path, opset, model.name, size_divisor(model))


class OnnxExport:
    """An ONNX conversion running in a child process; `start_export_onnx` returns it.

    Attributes:
        path: the `.onnx` file it writes.
        seconds: the wall time from the start to the child's exit, once `wait` has returned.
    """

    def __init__(self, process, path, workdir, started):
        self.path, self.seconds = path, None
        self._process, self._workdir, self._started = process, workdir, started

    def wait(self):
        """Waits for the child process.

        Returns:
            `path` (a str).

        Raises:
            RuntimeError: the conversion failed; the message names the file and ends with the child's error.
        """
        self._process.wait()
        self.seconds = time.perf_counter() - self._started
        with open(os.path.join(self._workdir, "stderr.txt"), errors="replace") as f:
            stderr = f.read()
        shutil.rmtree(self._workdir, ignore_errors=True)
        if self._process.returncode:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"ONNX export to {self.path} failed (child process exit status "
                               f"{self._process.returncode}):\n{tail}")
        return self.path

    def cancel(self):
        """Stops the child process if it is still running (e.g. when the export around it failed)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(OSError):  # the job may be half-written to a process that is gone
                self._process.stdin.close()
        shutil.rmtree(self._workdir, ignore_errors=True)


def start_export_onnx(model, path, opset=17, input_size=None):
    """Starts `export_onnx` in the background: freezes the graph here, converts it in a child process.

    The child (`python -m kerasseg.export.onnx`, this interpreter, no GPU: tf2onnx does not need one) starts
    first and imports TensorFlow and tf2onnx while this process freezes the graph; then it reads the job (the
    frozen graph, in a temporary file) from its stdin. It imports neither the caller's script nor its model code.
    Call `wait()` on the result for the path (or the child's error); `cancel()` stops it.

    Args:
        model, path, opset, input_size: as `export_onnx`.

    Returns:
        An `OnnxExport`.

    Raises:
        ValueError: `input_size` is not (height, width) positive multiples of the model's size divisor.
    """
    started = time.perf_counter()
    if input_size is not None:
        resolve_input_size(model, input_size)  # a bad size fails here, before a process is started
    workdir = tempfile.mkdtemp(prefix="kerasseg_onnx_")
    # The child imports this very kerasseg (also from a source checkout that is not installed).
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": python_path, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(os.path.join(workdir, "stderr.txt"), "w") as stderr:  # a file: a pipe could fill and block it
        process = subprocess.Popen([sys.executable, "-m", "kerasseg.export.onnx"], env=env, cwd=workdir,
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    job = OnnxExport(process, os.path.abspath(os.fspath(path)), workdir, started)
    try:
        graph_def, input_name, output_name = _graph_for_onnx(model, input_size)
        graph_path = os.path.join(workdir, "graph.pb")
        with open(graph_path, "wb") as f:
            f.write(graph_def.SerializeToString())
        process.stdin.write(json.dumps({
            "graph_def": graph_path, "input_name": input_name, "output_name": output_name, "path": job.path,
            "opset": int(opset), "model_name": model.name, "divisor": int(size_divisor(model))}) + "\n")
        process.stdin.close()
    except BrokenPipeError:  # the child exited before its job arrived: its own error says why
        with contextlib.suppress(OSError):
            process.stdin.close()
        job.wait()  # raises the RuntimeError with the child's error
        raise
    except BaseException:
        job.cancel()
        raise
    return job


def _main():
    """The child process of `start_export_onnx`: imports the converter, then converts the job read from stdin."""
    import onnx  # noqa: F401  (imported before the job arrives: the parent freezes the graph meanwhile)
    import tf2onnx  # noqa: F401

    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit("kerasseg.export.onnx: no job on stdin (the exporting process stopped).")
    job = json.loads(line)  # the graph's file and `_write_onnx`'s other arguments by name
    graph_def = tf.compat.v1.GraphDef()
    with open(job.pop("graph_def"), "rb") as f:
        graph_def.ParseFromString(f.read())
    _write_onnx(graph_def, **job)


def onnx_input_shape(path):
    """Returns the `image` input shape of an ONNX file, with None (or a symbolic name) for dynamic dims.

    Args:
        path: the `.onnx` file.

    Returns:
        A list of 4 entries: ints for fixed dims, str/None for dynamic ones.
    """
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def run_onnx(path, images):
    """Runs an ONNX file with onnxruntime (CPU).

    Args:
        path: the `.onnx` file written by `export_onnx`.
        images: float32 [B, H, W, 3] or [H, W, 3] in [0, 255].

    Returns:
        float32 logits [B, H, W, C].
    """
    import onnxruntime as ort

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file not found: {path}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (input_meta,) = session.get_inputs()
    return np.asarray(session.run(None, {input_meta.name: images})[0], dtype=np.float32)


if __name__ == "__main__":
    _main()
