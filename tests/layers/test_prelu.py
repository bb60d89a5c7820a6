import keras
import numpy as np
import pytest

from kerasseg.export.tflite import convert_tflite, run_tflite, tflite_op_counts
from kerasseg.layers import PReLU
from kerasseg.litert.runtime import xnnpack_partitions
from tests.helpers import tflite_op_types


def _pair(channels=5, seed=0, high=1.5):
    alpha = np.random.default_rng(seed).uniform(-0.5, high, (1, 1, channels)).astype(np.float32)
    layers = [cls(shared_axes=[1, 2]) for cls in (keras.layers.PReLU, PReLU)]
    for layer in layers:
        layer.build((None, None, None, channels))
        layer.alpha.assign(alpha)
    return layers


@pytest.mark.parametrize("training", [False, True])
def test_equals_keras_prelu(training):
    keras_prelu, prelu = _pair()
    x = np.random.default_rng(1).normal(0, 10, (2, 6, 7, 5)).astype(np.float32)
    x[0, 0, 0] = 0.0
    np.testing.assert_array_equal(prelu(x, training=training).numpy(), keras_prelu(x, training=training).numpy())


def test_same_variables_config_and_weights_file(tmp_path):
    keras_prelu, prelu = _pair()
    assert [(w.path.split("/")[-1], w.shape) for w in prelu.weights] == [
        (w.path.split("/")[-1], w.shape) for w in keras_prelu.weights]
    drop_name = lambda c: {k: v for k, v in c.items() if k != "name"}  # noqa: E731
    assert drop_name(prelu.get_config()) == drop_name(keras_prelu.get_config())

    def build(cls):
        inputs = keras.Input((4, 4, 5))
        return keras.Model(inputs, cls(shared_axes=[1, 2], name="act")(inputs))

    plain, ours = build(keras.layers.PReLU), build(PReLU)
    plain.get_layer("act").alpha.assign(keras_prelu.alpha)
    plain.save_weights(tmp_path / "w.weights.h5")
    ours.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(ours.get_layer("act").alpha.numpy(), keras_prelu.alpha.numpy())


def _delegate_partitions(flatbuffer):
    """(XNNPACK partitions, {op: count} of the ops left out of them)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    interpreter.allocate_tensors()
    partitions = xnnpack_partitions(interpreter)
    return partitions["partitions"], partitions["left_out"]


def _prelu_types(flatbuffer):
    """(input type, output type) names of every PRELU op of a .tflite file."""
    return [(op["inputs"][0], op["output"]) for op in tflite_op_types(flatbuffer) if op["op"] == "PRELU"]


def test_stays_float_in_int8_and_xnnpack_runs_the_whole_graph(tmp_path):
    """In an int8 model the PReLU is a float32 PRELU between a DEQUANTIZE and a QUANTIZE, all delegated; Keras'
    PReLU quantized to an int8 PRELU falls out of XNNPACK (so the test would see a regression)."""
    rng = np.random.default_rng(2)

    def build(cls):
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
        x = cls(shared_axes=[1, 2], name="act")(x)
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(x)
        model = keras.Model(inputs, x)
        model.get_layer("act").alpha.assign(rng.uniform(0.05, 0.5, (1, 1, 8)).astype(np.float32))
        return model

    images = [rng.uniform(0, 255, (16, 16, 3)).astype(np.float32) for _ in range(4)]
    model = build(PReLU)
    int8 = convert_tflite(model, "int8", representative_images=images)
    partitions, ops = _delegate_partitions(int8)
    assert partitions == 1 and ops == {"QUANTIZE": 1}, ops  # only the uint8 input's requantisation stays out
    assert _prelu_types(int8) == [("FLOAT32", "FLOAT32")]
    counts = tflite_op_counts(int8)
    # DEQUANTIZEs: into the PReLU and to the float32 output.
    assert counts["DEQUANTIZE"] == 2 and counts["CONV_2D"] == 2 and "LEAKY_RELU" not in counts, counts
    # The int8 model still computes the PReLU network (logits within a few int8 steps of Keras').
    x = np.stack(images)
    want = model(x).numpy()
    (tmp_path / "int8.tflite").write_bytes(int8)
    got = run_tflite(tmp_path / "int8.tflite", x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    # fp32: one PRELU op in XNNPACK.
    partitions, ops = _delegate_partitions(convert_tflite(model, "fp32"))
    assert partitions == 1 and not ops, ops
    # Keras' PReLU is quantized to an int8 PRELU, which XNNPACK leaves out.
    keras_int8 = convert_tflite(build(keras.layers.PReLU), "int8", representative_images=images)
    partitions, ops = _delegate_partitions(keras_int8)
    assert _prelu_types(keras_int8) == [("INT8", "INT8")] and "PRELU" in ops and partitions == 2, ops
