import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers.normalization import BatchNormalization as FusedBatchNormalization
from tests.helpers import keras_round_trip


def _pair(epsilon, momentum, channels=6, seed=0, **kwargs):
    """A Keras BN and a fused BN with the same (random) variables."""
    rng = np.random.default_rng(seed)
    layers = [keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs),
              FusedBatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)]
    for layer in layers:
        layer.build((None, None, None, channels))
    values = [rng.uniform(0.5, 1.5, channels) if "variance" in w.path or "gamma" in w.path
              else rng.normal(0, 1, channels) for w in layers[0].weights]
    for layer in layers:
        for w, v in zip(layer.weights, values):
            w.assign(v.astype(np.float32))
    return layers


@pytest.mark.parametrize("epsilon,momentum,shape", [(1e-3, 0.9, (4, 8, 8, 6)), (1e-5, 0.99, (2, 5, 3, 6))])
def test_training_forward_gradient_and_moving_statistics_equal_keras(epsilon, momentum, shape):
    keras_bn, fused_bn = _pair(epsilon, momentum)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(3.0, 2.0, shape).astype(np.float32))
    upstream = tf.constant(rng.normal(0, 1, shape).astype(np.float32))
    results = []
    for layer in (keras_bn, fused_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            objective = tf.reduce_sum(y * upstream)
        grads = tape.gradient(objective, [x, layer.gamma, layer.beta])
        results.append([y.numpy()] + [g.numpy() for g in grads]
                       + [layer.moving_mean.numpy(), layer.moving_variance.numpy()])
    names = ["output", "d input", "d gamma", "d beta", "moving mean", "moving variance"]
    for name, want, got in zip(names, *results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()), err_msg=name)
    # The moving statistics moved (the test would not see a missing update otherwise).
    assert not np.allclose(results[1][4], _pair(epsilon, momentum)[0].moving_mean.numpy())


def test_inference_is_keras_formula_and_does_not_update_statistics():
    # Inference runs Keras' own formula (a traced fused kernel is folded into the convolution by the remapper,
    # whose round-off broke export parity), so it is bit-identical to Keras'.
    keras_bn, fused_bn = _pair(1e-3, 0.9)
    x = np.random.default_rng(2).normal(0, 3, (2, 7, 9, 6)).astype(np.float32)
    before = fused_bn.moving_mean.numpy().copy()
    np.testing.assert_array_equal(fused_bn(x, training=False), keras_bn(x, training=False))
    np.testing.assert_array_equal(fused_bn.moving_mean.numpy(), before)


def test_single_pixel_batch_and_no_scale_center():
    # N = 1 per channel: the unbiased-variance correction must not divide by zero.
    keras_bn, fused_bn = _pair(1e-3, 0.9, center=False, scale=False)
    x = np.random.default_rng(3).normal(0, 1, (1, 1, 1, 6)).astype(np.float32)
    np.testing.assert_allclose(fused_bn(x, training=True), keras_bn(x, training=True), atol=1e-5)
    np.testing.assert_allclose(fused_bn.moving_variance.numpy(), keras_bn.moving_variance.numpy(), atol=1e-6)


def test_same_variables_and_config_as_keras():
    keras_bn, fused_bn = _pair(1e-3, 0.9)
    assert [w.path.split("/")[-1] for w in fused_bn.weights] == [w.path.split("/")[-1] for w in keras_bn.weights]
    assert [w.shape for w in fused_bn.weights] == [w.shape for w in keras_bn.weights]
    drop_name = lambda c: {k: v for k, v in c.items() if k != "name"}  # noqa: E731
    assert drop_name(fused_bn.get_config()) == drop_name(keras_bn.get_config())


def test_other_cases_fall_back_to_keras():
    layer = FusedBatchNormalization(axis=1)
    x = np.random.default_rng(4).normal(0, 1, (3, 4, 5)).astype(np.float32)
    reference = keras.layers.BatchNormalization(axis=1)
    np.testing.assert_allclose(layer(x, training=True), reference(x, training=True), atol=1e-5)


def test_weights_load_both_ways_and_keras_round_trip(tmp_path):
    def build(bn):
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        return keras.Model(inputs, bn(momentum=0.9, name="bn")(x))

    plain, fused = build(keras.layers.BatchNormalization), build(FusedBatchNormalization)
    x = np.random.default_rng(5).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    plain(x, training=True)  # moves the statistics away from their initial values
    plain.save_weights(tmp_path / "plain.weights.h5")
    fused.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-5)
    assert keras_round_trip(fused, x, tmp_path) == 0.0
