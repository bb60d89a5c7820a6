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
"""
import contextlib
import os

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
    import onnx

    if input_size is None:
        height, width = tuple(model.inputs[0].shape)[1:3]
    else:
        height, width = resolve_input_size(model, input_size)
    graph_def, input_name, output_name = _frozen_graph(model, [None, height, width, 3])
    model_proto = _convert(graph_def, input_name, output_name, opset)
    _rename_value(model_proto.graph, input_name, INPUT_NAME)
    _rename_value(model_proto.graph, output_name, OUTPUT_NAME)
    for value in (model_proto.graph.input[0], model_proto.graph.output[0]):
        for dim, label in zip(value.type.tensor_type.shape.dim, ("batch", "height", "width")):
            if not dim.HasField("dim_value"):
                dim.dim_param = label
    model_proto.doc_string = f"kerasseg {model.name}: float32 RGB image [B,H,W,3] in [0,255] -> logits [B,H,W,C]"
    # Height and width must be multiples of this (the graph does not pad); `kerasseg.inference` reads it.
    onnx.helper.set_model_props(model_proto, {SIZE_DIVISOR_KEY: str(size_divisor(model))})
    onnx.checker.check_model(model_proto)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model_proto, path)
    return path


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
