import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import AdaptiveAveragePooling2D, Resize, pyramid_pooling_module


def adaptive_avg_pool_reference(x, bins):
    """PyTorch AdaptiveAvgPool2d: bin i spans [floor(i*n/bins), ceil((i+1)*n/bins))."""
    batch, height, width, channels = x.shape
    out = np.zeros((batch, bins, bins, channels))
    for i in range(bins):
        r0, r1 = (i * height) // bins, -((-(i + 1) * height) // bins)
        for j in range(bins):
            c0, c1 = (j * width) // bins, -((-(j + 1) * width) // bins)
            out[:, i, j] = x[:, r0:r1, c0:c1].astype(np.float64).mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("bins", [1, 2, 3, 6])
@pytest.mark.parametrize("size", [(12, 18), (7, 10), (4, 4)])
def test_adaptive_pooling_matches_reference(bins, size):
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype(np.float32)
    np.testing.assert_allclose(AdaptiveAveragePooling2D(bins)(x).numpy(), adaptive_avg_pool_reference(x, bins),
                               atol=1e-5)


def test_adaptive_pooling_with_unknown_size_inside_tf_function():
    layer = AdaptiveAveragePooling2D(3)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 2])])
    for size in [(9, 9), (5, 11)]:
        x = np.random.default_rng(1).normal(size=(1, *size, 2)).astype(np.float32)
        np.testing.assert_allclose(fn(x).numpy(), adaptive_avg_pool_reference(x, 3), atol=1e-5)


def test_adaptive_pooling_validates_bins():
    with pytest.raises(ValueError, match="bins"):
        AdaptiveAveragePooling2D(0)


def test_pyramid_pooling_module_structure_and_numbers():
    x = keras.Input((None, None, 16))
    model = keras.Model(x, pyramid_pooling_module(x, 8, "ppm"))
    # 4 stages of (16*8 conv + 2*8 BN gamma/beta) + fusion (16 + 4*8)*8 + 2*8.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 4 * (16 * 8 + 16) + (16 + 32) * 8 + 16
    assert [model.get_layer(f"ppm_pool{b}").bins for b in (1, 2, 3, 6)] == [1, 2, 3, 6]
    assert model.get_layer("ppm_bottleneck_conv").kernel_size == (1, 1)
    out = model(np.random.default_rng(2).normal(size=(2, 12, 20, 16)).astype(np.float32))
    assert out.shape == (2, 12, 20, 8)
    # Stage 1 (global pooling) up-samples to a constant map.
    stage = keras.Model(x, model.get_layer("ppm_pool1_up").output)
    y = stage(np.random.default_rng(3).normal(size=(1, 5, 7, 16)).astype(np.float32)).numpy()
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :1, :1], y.shape), atol=1e-6)
    assert isinstance(model.get_layer("ppm_pool6_up"), Resize)
    with pytest.raises(ValueError, match="bins"):
        pyramid_pooling_module(x, 8, "empty", bins=())


def test_pspnet_variant_has_stage_relu_and_3x3_fusion():
    x = keras.Input((None, None, 4))
    model = keras.Model(x, pyramid_pooling_module(x, 2, "psp", bottleneck_kernel_size=3, stage_activation=True,
                                                  dropout_rate=0))
    names = [layer.name for layer in model.layers]
    assert "psp_pool3_relu" in names and "psp_dropout" not in names
    assert model.get_layer("psp_bottleneck_conv").kernel_size == (3, 3)
