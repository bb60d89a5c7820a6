import collections

import keras
import numpy as np
import pytest

from kerasseg.export.tflite import convert_tflite, tflite_op_counts
from kerasseg.layers import PReLU
from kerasseg.layers.prelu import int8_graph


def _pair(channels=5, seed=0, high=1.5):
    alpha = np.random.default_rng(seed).uniform(-0.5, high, (1, 1, channels)).astype(np.float32)
    layers = [cls(shared_axes=[1, 2]) for cls in (keras.layers.PReLU, PReLU)]
    for layer in layers:
        layer.build((None, None, None, channels))
        layer.alpha.assign(alpha)
    return layers


@pytest.mark.parametrize("training, int8, high", [(False, False, 1.5), (False, True, 1.5), (False, True, 0.9),
                                                  (True, False, 1.5), (True, True, 1.5)])
def test_equals_keras_prelu(training, int8, high):
    """high: the largest slope; below 0.99 the int8 graph takes the folded form, else the two-MUL form."""
    keras_prelu, prelu = _pair(high=high)
    x = np.random.default_rng(1).normal(0, 10, (2, 6, 7, 5)).astype(np.float32)
    x[0, 0, 0] = 0.0
    want = keras_prelu(x, training=training).numpy()
    with int8_graph(int8):
        got = prelu(x, training=training).numpy()
    if int8 and not training:
        # Round-off only: a few float32 ulps of |x| (the two terms cancel where x < 0 and alpha is near 1; the
        # folded form multiplies by (1 + alpha) / (1 - alpha), up to 19 for these slopes).
        bound = 4 if high > 0.99 else 64
        assert (np.abs(got - want) <= bound * np.finfo(np.float32).eps * np.abs(x)).all()
    else:  # Keras' own computation
        np.testing.assert_array_equal(got, want)


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
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    interpreter.allocate_tensors()
    ops = collections.Counter(d["op_name"] for d in interpreter._get_ops_details())
    return ops.pop("DELEGATE", 0), ops


def test_int8_graph_is_one_xnnpack_partition():
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
    int8 = convert_tflite(build(PReLU), "int8", representative_images=images)
    partitions, ops = _delegate_partitions(int8)
    assert "PRELU" not in ops and partitions == 1, ops
    # The folded form: the (1 - alpha) / 2 scale went into conv1, one MUL (by (1 + alpha) / (1 - alpha)) is left.
    assert {k: v for k, v in tflite_op_counts(int8).items() if k in ("MUL", "LEAKY_RELU", "ADD")} == {
        "MUL": 1, "LEAKY_RELU": 1, "ADD": 1}
    # In float the converter keeps one PRELU op (XNNPACK runs it in fp32; the int8 form would cost ~20% there).
    partitions, ops = _delegate_partitions(convert_tflite(build(PReLU), "fp32"))
    assert "PRELU" in ops and "LEAKY_RELU" not in ops and partitions == 1, ops
    # The same model with Keras' PReLU leaves the PRELU outside XNNPACK (the test would not see a regression).
    partitions, ops = _delegate_partitions(
        convert_tflite(build(keras.layers.PReLU), "int8", representative_images=images))
    assert "PRELU" in ops and partitions == 2, ops
