"""Helpers shared by the tests: fresh-process runs, tiny data, a short training loop, and `ModelTester`.

`ModelTester` is the harness every model test subclasses (in the spirit of keras-hub's `TestCase.run_*_test`
and segmentation_models.pytorch's `BaseModelTester`): a subclass names a registered architecture and a tiny
configuration, and inherits the checks every segmentation model must pass:

- registry lookup and the spec the model carries (`SegmentationModel`);
- logits at input resolution at two sizes;
- unknown height and width inside `tf.function`;
- a size that is not a multiple of the size divisor is an error naming it (any size works for divisor 1);
- bad arguments are errors naming the argument (plus the subclass's own `bad_arguments`);
- a `.keras` round trip in a fresh process (only `import kerasseg`), spec included;
- TFLite (builtin ops only) / ONNX parity with Keras at a tiny size.

The subclass's file then holds only what is particular to its model (reference parameter counts, structure).
"""
import inspect
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.errors import UnknownNameError
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.segmentation_model import SegmentationModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, cwd=None, timeout=300):
    """Runs `code` in a fresh Python process (with the repo importable) and returns its stdout."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc.stdout


def keras_round_trip(model, x, directory, extra=None):
    """Saves `model` as .keras, reloads it in a fresh process (only `import kerasseg`) and runs it on `x`.

    Args:
        model: a `keras.Model`.
        x: a numpy batch for the model.
        directory: a folder for the .keras file and the arrays.
        extra: optional Python expression on the reloaded model `m`, printed and returned as text.

    Returns:
        The max |difference| between the reloaded and the original model's outputs (inference mode), or
        (that difference, the text of `extra`) when `extra` is given.
    """
    paths = {key: os.path.join(str(directory), name) for key, name in
             (("x", "x.npy"), ("y", "y.npy"), ("model", f"{model.name}.keras"))}
    np.save(paths["x"], x)
    np.save(paths["y"], model(x, training=False).numpy())
    model.save(paths["model"])
    out = run_python(
        "import numpy as np, keras, kerasseg\n"
        f"m = keras.saving.load_model({paths['model']!r})\n"
        f"y = m(np.load({paths['x']!r}), training=False).numpy()\n"
        f"print(float(np.abs(y - np.load({paths['y']!r})).max()))\n"
        f"print({extra or 'None'})\n"
    )
    diff, extra_text = out.strip().splitlines()[-2:]
    return (float(diff), extra_text) if extra else float(diff)


def random_images(size, batch=1, seed=0):
    """float32 RGB images [batch, H, W, 3] uniform in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)).astype(np.float32)


def trainable_count(model):
    """Number of trainable parameters."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def tflite_op_types(path_or_bytes):
    """Each operator of a `.tflite` file's main graph with its tensor types: dicts op (e.g. "PRELU"), layer (the
    Keras layer that made it), inputs (type names of its non-constant inputs, e.g. ["FLOAT32"]), output (the type
    name of its first output)."""
    from kerasseg.litert.profile import single_op_models
    from kerasseg.litert.runtime import read_model, tflite_schema

    schema = tflite_schema()
    graph = schema.ModelT.InitFromPackedBuf(read_model(path_or_bytes)[0], 0).subgraphs[0]
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    return [{"op": op["op"], "layer": op["layer"], "inputs": [names[graph.tensors[t].type] for t in op["inputs"]],
             "output": names[graph.tensors[op["outputs"][0]].type]} for op in single_op_models(path_or_bytes)]


def tiny_batch(size, num_classes, batch=2, seed=0):
    """Images with one bright square each and matching labels (class k inside, 0 outside)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 60, (batch, *size, 3)).astype(np.float32)
    labels = np.zeros((batch, *size), np.int32)
    h, w = size
    for i in range(batch):
        top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        cls = 1 + i % (num_classes - 1)
        labels[i, top:top + h // 2, left:left + w // 2] = cls
        images[i, top:top + h // 2, left:left + w // 2] += 40.0 * cls
    return images, labels


def overfit(model, images, labels, steps, learning_rate=0.05):
    """Trains `model` on one batch for `steps` SGD (momentum 0.9) steps; returns the list of losses.

    A `tf.function` step with SGD: tracing a Keras 3 Adam update costs about a minute on the CI machine. After
    training, batch-norm moving statistics are set to this batch's statistics (one forward pass with momentum
    0), so the model in inference mode predicts what it learned: the export tests compare formats on it.
    """
    loss_fn = SegmentationCrossEntropy(model.output_shape[-1])
    optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9)
    images, labels = tf.constant(images), tf.constant(labels)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(steps)]
    recalibrate_batch_norm(model, images)
    return losses


def recalibrate_batch_norm(model, images):
    """Sets every BN layer's moving statistics to the statistics of `images` (one training-mode pass).

    After a few dozen training steps the moving statistics (momentum 0.9-0.99) still lag the weights; tests that
    compare a briefly trained model in inference mode (export parity) set them from the batch it learned.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


class ModelTester:
    """The checks every registered segmentation model passes; subclass it once per architecture.

    Class attributes a subclass sets:
        architecture: the registry name.
        size_divisor: the divisor the architecture registers.
        paper: a substring of the registered paper reference.
        num_classes: classes of the tiny models built here.
        build_kwargs: builder options of the tiny configuration (e.g. a small backbone).
        sizes: two (height, width) input sizes, multiples of `size_divisor`.
        bad_arguments: [(builder kwargs, message regex)] of the model's own argument checks.
        export_formats: formats of the parity test; () where a subclass documents why it has none.
        export_size: (height, width) of the parity test.
        round_trip_tolerance: max |dlogit| after the fresh-process `.keras` reload.

    Fixtures a subclass may override: `model` (the class-wide tiny model) and `parity_model` ((model, images)
    or (model, images, labels) that the round trip and the export parity run on, e.g. a briefly trained model).
    `export_result` gives the `export_model` result to the subclass's own export assertions.
    """

    architecture = None
    size_divisor = 1
    paper = ""
    num_classes = 3
    build_kwargs = {}
    sizes = ((64, 64), (64, 96))
    bad_arguments = ()
    export_formats = ("tflite-fp32", "onnx")
    export_size = (64, 64)
    round_trip_tolerance = 1e-5
    #: Why this model skips the export parity or the round trip (a string), None where it runs them.
    skip_export_reason = None
    skip_round_trip_reason = None

    @classmethod
    def build(cls, **kwargs):
        """Builds the architecture through the registry with the tiny configuration (overridden by kwargs)."""
        return kerasseg.build_model(cls.architecture, **{"num_classes": cls.num_classes, **cls.build_kwargs,
                                                         **kwargs})

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        keras.utils.set_random_seed(0)
        return cls.build()

    def test_registry_lookup_and_spec(self, model):
        spec = kerasseg.get_model_spec(self.architecture)
        assert self.architecture in kerasseg.list_models()
        assert spec.size_divisor == self.size_divisor and self.paper in spec.paper
        assert isinstance(model, SegmentationModel) and model.name == self.architecture
        carried = model.spec
        assert carried["architecture"] == self.architecture and carried["size_divisor"] == self.size_divisor
        assert carried["paper"] == spec.paper
        assert carried["builder_arguments"]["num_classes"] == self.num_classes
        for key, value in self.build_kwargs.items():
            assert carried["builder_arguments"][key] == value
        assert kerasseg.registry.size_divisor(model) == self.size_divisor

    def test_logits_at_input_resolution(self, model):
        for size in self.sizes:
            out = model(random_images(size, batch=2))
            out = out["logits"] if isinstance(out, dict) else out
            assert out.shape == (2, *size, self.num_classes)
            assert np.isfinite(out.numpy()).all()

    def test_unknown_height_width_inside_tf_function(self, model):
        fn = tf.function(lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        for batch, size in enumerate(self.sizes, start=1):
            out = fn(tf.zeros([batch, *size, 3]))
            out = out["logits"] if isinstance(out, dict) else out
            assert out.shape == (batch, *size, self.num_classes)

    def test_size_divisor_is_enforced(self, model):
        height, width = self.sizes[0]
        if self.size_divisor == 1:  # any size works
            out = model(random_images((height + 1, width - 3)), training=False)
            out = out["logits"] if isinstance(out, dict) else out
            assert out.shape == (1, height + 1, width - 3, self.num_classes)
            return
        with pytest.raises(ValueError, match=f"height {height + 1} is not a multiple of {self.size_divisor}"):
            model(random_images((height + 1, width)))
        odd_width = width + self.size_divisor // 2
        with pytest.raises(ValueError, match=f"width {odd_width} is not a multiple of {self.size_divisor}"):
            model(random_images((height, odd_width)))
        for shape in ((height + self.size_divisor // 2, width, 3), (height, width + self.size_divisor // 2, 3)):
            with pytest.raises(ValueError, match=f"multiple of {self.size_divisor}"):
                self.build(input_shape=shape)

    def test_bad_arguments_are_named(self):
        common = [({"num_classes": 0}, "num_classes"), ({"input_shape": (64, 64, 1)}, r"height, width, 3")]
        for kwargs, message in common + list(self.bad_arguments):
            with pytest.raises(ValueError, match=message):
                self.build(**kwargs)
        if "backbone" in inspect.signature(kerasseg.get_model_spec(self.architecture).builder).parameters:
            with pytest.raises(UnknownNameError, match=r"unknown backbone 'nope'; valid: "):
                self.build(backbone="nope")
        with pytest.raises(TypeError):
            self.build(no_such_option=1)

    def test_keras_round_trip_in_fresh_process(self, parity_model, tmp_path):
        """The parity model (trained where a subclass trains one) reloads with its outputs, spec and frozen layers."""
        if self.skip_round_trip_reason:
            pytest.skip(self.skip_round_trip_reason)
        model, images = parity_model[:2]
        expected = ("SegmentationModel", model.spec, self.size_divisor, [layer.trainable for layer in model.layers])
        diff, reloaded = keras_round_trip(
            model, images, tmp_path,
            extra="(type(m).__name__, m.spec, kerasseg.registry.size_divisor(m), [l.trainable for l in m.layers])")
        assert diff < self.round_trip_tolerance
        assert reloaded == repr(expected)

    @pytest.fixture(scope="class")
    @classmethod
    def parity_model(cls, model):
        return model, random_images(cls.export_size, batch=2)

    @pytest.fixture(scope="class")
    @classmethod
    def export_result(cls, parity_model, tmp_path_factory):
        from kerasseg.export import export_model

        if cls.skip_export_reason:
            pytest.skip(cls.skip_export_reason)
        model, images, *labels = parity_model
        quantized = any(fmt in cls.export_formats for fmt in ("tflite-int8", "tflite-fp16"))
        return export_model(model, tmp_path_factory.mktemp(cls.architecture), formats=list(cls.export_formats),
                            input_size=cls.export_size, parity_images=images,
                            parity_labels=labels[0] if labels else None,
                            representative_images=list(images) if quantized else None)

    def test_export_parity(self, export_result):
        """Every exported format within its parity bar; TFLite files hold builtin ops only."""
        from kerasseg.export import assert_builtin_ops_only

        rows = {row["format"]: row for row in export_result["parity"]}
        assert set(rows) == set(self.export_formats)
        failed = {fmt: (row["max_abs_diff"], row["argmax_agreement"]) for fmt, row in rows.items()
                  if not row["passed"]}
        assert not failed, failed
        for fmt, path in export_result["artifacts"].items():
            if fmt.startswith("tflite"):
                assert_builtin_ops_only(path)
