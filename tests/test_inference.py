"""kerasseg.inference.predict: any size, sliding window, flip / multi-scale TTA, huge and tiny images."""
import numpy as np
import pytest

from kerasseg.inference import Predictor, predict, window_weights


def _conv_model(kernels=2, symmetric=False, seed=0):
    """Two 3x3 convolutions: receptive field radius 2, any input size (divisor 1)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs / 255.0)
    model = keras.Model(inputs, keras.layers.Conv2D(kernels + 1, 3, padding="same")(x))
    if symmetric:  # kernels mirrored left-right: the model commutes with a horizontal flip
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D):
                kernel, bias = layer.get_weights()
                layer.set_weights([(kernel + kernel[:, ::-1]) / 2, bias])
    return model


def _pooled_model():
    """Needs inputs that are multiples of 8 (average pool 8, upsample back), like ENet."""
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.AveragePooling2D(8)(inputs)
    x = keras.layers.Conv2D(3, 1)(x)
    return keras.Model(inputs, keras.layers.UpSampling2D(8)(x))


@pytest.fixture(scope="module")
def conv_model():
    return _conv_model()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 255, (70, 90, 3)).astype(np.float32)


@pytest.mark.parametrize("blend", ["gaussian", "uniform"])
def test_tiles_with_overlap_equal_whole_image(conv_model, image, blend):
    whole = conv_model(image[None]).numpy()[0]
    tiled = predict(conv_model, image, tile_size=(32, 32), tile_overlap=4, blend=blend, batch_size=3)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Too little overlap for the receptive field (radius 2 > 2 // 2): the seams differ.
    seams = predict(conv_model, image, tile_size=(32, 32), tile_overlap=2, blend=blend)
    assert np.abs(seams - whole).max() > 1e-3


def test_flip_tta_of_flip_equivariant_model_equals_no_tta(image):
    model = _conv_model(symmetric=True)
    plain = predict(model, image)
    np.testing.assert_allclose(predict(model, image, flip=True), plain, atol=1e-5)
    # ... and it does change a model that is not equivariant.
    other = _conv_model(seed=3)
    assert np.abs(predict(other, image, flip=True) - predict(other, image)).max() > 1e-3


def test_multi_scale_averages_resized_logits(conv_model, image):
    import tensorflow as tf

    out = predict(conv_model, image, scales=(0.5, 1.0))
    half = tf.image.resize(image, (35, 45)).numpy()
    expected = (conv_model(image[None]).numpy()[0]
                + tf.image.resize(conv_model(half[None]).numpy()[0], (70, 90)).numpy()) / 2
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (8, 8), (9, 100)])
def test_sizes_that_are_not_multiples_of_the_divisor(shape):
    model = _pooled_model()
    predictor = Predictor(lambda x: model(x).numpy(), "pooled", divisor=8)
    x = np.random.default_rng(1).uniform(0, 255, (*shape, 3)).astype(np.float32)
    out = predict(predictor, x)
    assert out.shape == (*shape, 3)
    padded = np.pad(x, [(0, -shape[0] % 8), (0, -shape[1] % 8), (0, 0)])
    np.testing.assert_allclose(out, model(padded[None]).numpy()[0, :shape[0], :shape[1]], atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 8"):
        predict(predictor, x, tile_size=(12, 16))


def test_one_pixel_and_very_large_images_with_tiling(conv_model):
    import resource

    tiny = predict(conv_model, np.full((1, 1, 3), 100, np.float32), tile_size=64)
    assert tiny.shape == (1, 1, 3) and np.isfinite(tiny).all()
    big = np.random.default_rng(2).integers(0, 256, (2000, 3000, 3)).astype(np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = predict(conv_model, big, tile_size=256, tile_overlap=16, batch_size=8)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.shape == (2000, 3000, 3) and np.isfinite(out).all()
    # A spot check against the whole-model output of a crop far from the image border.
    crop = big[1000:1064, 1500:1564].astype(np.float32)
    np.testing.assert_allclose(out[1010:1054, 1510:1554], conv_model(crop[None]).numpy()[0, 10:54, 10:54],
                               atol=1e-4)
    assert grown_mb < 1500, grown_mb  # accumulators ~100 MB; never the whole image through the model at once


def test_window_weights_and_argument_errors(conv_model, image):
    gaussian = window_weights((16, 16))
    assert gaussian.shape == (16, 16) and gaussian[8, 8] > gaussian[0, 0] > 0
    assert (window_weights((4, 6), "uniform") == 1).all()
    with pytest.raises(ValueError, match="blend must be one of"):
        predict(conv_model, image, blend="cosine")
    with pytest.raises(ValueError, match="tile_overlap"):
        predict(conv_model, image, tile_size=16, tile_overlap=16)
    with pytest.raises(ValueError, match="scales"):
        predict(conv_model, image, scales=(0,))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        predict(conv_model, image[..., :2])
