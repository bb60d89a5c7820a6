import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import (
    chained_residual_pooling,
    multi_resolution_fusion,
    residual_conv_unit,
    residual_conv_units,
)


def _conv(x, layer):
    y = tf.nn.conv2d(x, layer.kernel, 1, "SAME")
    return y + layer.bias if layer.use_bias else y


def test_residual_conv_unit_is_relu_conv_relu_conv_plus_identity():
    x_in = keras.Input((None, None, 6))
    model = keras.Model(x_in, residual_conv_unit(x_in, "rcu"))
    conv1, conv2 = model.get_layer("rcu_conv1"), model.get_layer("rcu_conv2")
    assert conv1.kernel_size == (3, 3) and conv1.use_bias and not conv2.use_bias
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 6)).astype(np.float32)
    want = x + _conv(tf.nn.relu(_conv(tf.nn.relu(x), conv1)), conv2)
    np.testing.assert_allclose(model(x).numpy(), want.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="keeps its width"):
        residual_conv_unit(x_in, "bad", filters=8)


def test_residual_conv_units_chain_and_names():
    x_in = keras.Input((None, None, 4))
    model = keras.Model(x_in, residual_conv_units(x_in, 3, "out_rcu"))
    assert {layer.name for layer in model.layers} >= {"out_rcu_1_add", "out_rcu_2_add", "out_rcu_3_add"}
    assert model.count_params() == 3 * (2 * 9 * 4 * 4 + 4)


def crp_reference(x, convs, chained):
    """CRP in numpy-free TF ops: relu, then pool -> conv stages, chained (or, wrongly, in parallel)."""
    x = tf.nn.relu(x)
    out, top = x, x
    for conv in convs:
        source = top if chained else x
        top = _conv(tf.nn.max_pool2d(source, 5, 1, "SAME"), conv)
        out = out + top
    return out


def test_chained_residual_pooling_is_chained_not_parallel():
    x_in = keras.Input((None, None, 4))
    model = keras.Model(x_in, chained_residual_pooling(x_in, "crp"))
    convs = [model.get_layer(f"crp_conv{i}") for i in range(1, 5)]
    assert all(c.kernel_size == (3, 3) and not c.use_bias for c in convs)
    pools = [model.get_layer(f"crp_pool{i}") for i in range(1, 5)]
    assert all(p.pool_size == (5, 5) and p.strides == (1, 1) for p in pools)
    x = np.random.default_rng(1).normal(size=(2, 9, 11, 4)).astype(np.float32)
    got = model(x).numpy()
    np.testing.assert_allclose(got, crp_reference(x, convs, chained=True).numpy(), atol=1e-5)
    assert np.abs(got - crp_reference(x, convs, chained=False).numpy()).max() > 1e-2


def test_light_weight_crp_uses_1x1_convs():
    x_in = keras.Input((None, None, 8))
    model = keras.Model(x_in, chained_residual_pooling(x_in, "lw", kernel_size=1, stages=2))
    assert model.count_params() == 2 * 8 * 8
    assert model.get_layer("lw_conv2").kernel_size == (1, 1)
    with pytest.raises(ValueError, match="stages"):
        chained_residual_pooling(x_in, "none", stages=0)


def test_multi_resolution_fusion_convs_upsamples_and_sums():
    fine_in, coarse_in = keras.Input((None, None, 6)), keras.Input((None, None, 10))
    model = keras.Model([fine_in, coarse_in], multi_resolution_fusion([fine_in, coarse_in], "mrf"))
    conv1, conv2 = model.get_layer("mrf_conv1"), model.get_layer("mrf_conv2")
    assert conv1.filters == conv2.filters == 6  # the smallest input width
    rng = np.random.default_rng(2)
    fine, coarse = rng.normal(size=(1, 8, 12, 6)).astype(np.float32), rng.normal(size=(1, 4, 6, 10)).astype(np.float32)
    want = _conv(fine, conv1) + tf.image.resize(_conv(coarse, conv2), [8, 12])
    np.testing.assert_allclose(model([fine, coarse]).numpy(), want.numpy(), atol=1e-5)
    single = keras.Input((None, None, 3))
    assert multi_resolution_fusion([single], "one") is single


def test_relu6_activation_and_bad_activation():
    x_in = keras.Input((None, None, 2))
    model = keras.Model(x_in, chained_residual_pooling(x_in, "c6", activation="relu6", stages=1))
    assert model.get_layer("c6_relu").max_value == 6.0
    with pytest.raises(ValueError, match="activation"):
        residual_conv_unit(x_in, "bad", activation="gelu")
