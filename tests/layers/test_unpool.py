import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from kerasseg.layers import MaxUnpooling2D


def argmax_unpool(updates, pooled_input, k=2):
    """Reference: max_pool_with_argmax + scatter (what the export-safe layer replaces)."""
    _, argmax = tf.nn.max_pool_with_argmax(pooled_input, k, k, "VALID", include_batch_in_index=True)
    flat = tf.scatter_nd(tf.reshape(argmax, [-1, 1]), tf.reshape(updates, [-1]),
                         [int(np.prod(pooled_input.shape))])
    return tf.reshape(flat, pooled_input.shape)


@pytest.mark.parametrize("k", [2, 3])
def test_matches_argmax_scatter_without_ties(k):
    rng = np.random.default_rng(0)
    pooled_input = tf.constant(rng.normal(size=(2, 6 * k // 2 * 2, 4 * k, 5)).astype(np.float32))
    updates = tf.constant(rng.normal(size=(2, pooled_input.shape[1] // k, pooled_input.shape[2] // k, 5))
                          .astype(np.float32))
    got = MaxUnpooling2D(k)([updates, pooled_input])
    np.testing.assert_array_equal(got.numpy(), argmax_unpool(updates, pooled_input, k).numpy())


def test_ties_go_to_first_position_in_window():
    pooled_input = tf.ones([1, 2, 2, 1])
    got = MaxUnpooling2D(2)([tf.constant([[[[7.0]]]]), pooled_input]).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(got, [[7.0, 0.0], [0.0, 0.0]])


def test_dynamic_shapes_in_tf_function():
    layer = MaxUnpooling2D(2)
    fn = tf.function(lambda u, x: layer([u, x]),
                     input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 3])])
    x = tf.random.normal([3, 8, 12, 3])
    u = tf.random.normal([3, 4, 6, 3])
    np.testing.assert_array_equal(fn(u, x).numpy(), argmax_unpool(u, x).numpy())


def test_converts_to_builtin_tflite_ops_and_runs_in_litert():
    x_in = keras.Input((8, 8, 4), batch_size=1)
    pooled = keras.layers.MaxPooling2D(2)(x_in)
    y = keras.layers.Conv2D(4, 1)(pooled)
    out = MaxUnpooling2D(2)([y, x_in])
    model = keras.Model(x_in, out)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # fails on any non-builtin op
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 4)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)


def test_serialization_and_bad_pool_size():
    layer = MaxUnpooling2D(3, name="u")
    assert MaxUnpooling2D.from_config(layer.get_config()).pool_size == 3
    with pytest.raises(ValueError, match="pool_size"):
        MaxUnpooling2D(1)


@pytest.mark.parametrize("k", [2, 3])
def test_training_path_equals_builtin_path_with_ties_and_gradients(k):
    # Training runs one MaxPoolGrad kernel; inference (and every export) the builtin-op path. They must agree on
    # values (ties included: quantized inputs make many) and on the gradient with respect to the updates.
    rng = np.random.default_rng(1)
    pooled_input = tf.constant(rng.integers(0, 3, (2, 4 * k, 6 * k, 5)).astype(np.float32))
    updates = tf.constant(rng.normal(size=(2, 4, 6, 5)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=pooled_input.shape).astype(np.float32))
    layer = MaxUnpooling2D(k)
    results = {}
    for training in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(updates)
            out = layer([updates, pooled_input], training=training)
            objective = tf.reduce_sum(out * upstream)
        results[training] = out.numpy(), tape.gradient(objective, updates).numpy()
    np.testing.assert_array_equal(results[True][0], results[False][0])
    np.testing.assert_array_equal(results[True][1], results[False][1])
    np.testing.assert_array_equal(results[False][0], argmax_unpool(updates, pooled_input, k).numpy())
    graph = tf.function(lambda u, x: layer([u, x], training=True)).get_concrete_function(updates, pooled_input).graph
    assert "MaxPoolGrad" in [op.type for op in graph.get_operations()]


def test_stays_float_in_int8_with_the_int8_model_agreeing(tmp_path):
    """In an int8 model the unpooling's comparisons run on float32 tensors (LiteRT's int8 ones are slow and
    XNNPACK runs neither), behind a DEQUANTIZE; the file still places the updates where Keras does."""
    from kerasseg.export.tflite import convert_tflite, run_tflite
    from tests.helpers import tflite_op_types

    keras.utils.set_random_seed(3)
    x_in = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x_in)
    y = keras.layers.Conv2D(4, 1, name="decode")(keras.layers.MaxPooling2D(2, name="pool")(x))
    model = keras.Model(x_in, MaxUnpooling2D(2, name="unpool")([y, x]))
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    int8 = convert_tflite(model, "int8", representative_images=list(images))
    compared = [t for op in tflite_op_types(int8) if op["op"] in ("EQUAL", "LESS") for t in op["inputs"]]
    assert compared and set(compared) == {"FLOAT32"}
    (tmp_path / "int8.tflite").write_bytes(int8)
    got, want = run_tflite(tmp_path / "int8.tflite", images), model(images).numpy()
    # Where Keras placed an update, the int8 file placed one with its value (a window whose two largest inputs
    # fall on one int8 step can pick the other position: a few percent at most).
    placed = np.abs(want) > 0.05 * np.abs(want).max()
    assert np.mean((np.abs(got) > 0)[placed]) > 0.97
    close = np.abs(got - want)[placed] < 0.05 * np.abs(want).max()
    assert np.mean(close) > 0.97
