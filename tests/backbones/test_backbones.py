import socket

import keras
import numpy as np
import pytest

from kerasseg.backbones import FEATURE_CHANNELS, build_backbone, list_backbones, save_backbone_weights

SIZE = (64, 96)  # non-square, and small enough for ResNet-152 / Xception


def _features_model(name, output_stride=32, size=SIZE, **options):
    inputs = keras.Input((*size, 3), name="image")
    return keras.Model(inputs, build_backbone(name, inputs, output_stride=output_stride, **options))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (1, *SIZE, 3)).astype(np.float32)


def test_list_backbones():
    assert list_backbones() == sorted(["vgg16", "resnet18", "resnet34", "resnet18_deep", "resnet50", "resnet101",
                                       "resnet152", "xception", "mobilenetv2"])


@pytest.mark.parametrize("name", sorted(FEATURE_CHANNELS))
def test_feature_strides_and_channels(name, images):
    model = _features_model(name)
    out = model(images, training=False)
    assert sorted(out) == ["16", "32", "4", "8"] or sorted(map(int, out)) == [4, 8, 16, 32]
    for level, channels in zip((4, 8, 16, 32), FEATURE_CHANNELS[name]):
        feature = out[level] if level in out else out[str(level)]
        assert tuple(feature.shape) == (1, SIZE[0] // level, SIZE[1] // level, channels), (name, level)
        assert np.isfinite(feature.numpy()).all()
    assert all(layer.name.startswith(f"{name}_") for layer in model.layers[1:])


@pytest.mark.parametrize("name, output_stride", [
    ("resnet18_deep", 8), ("resnet34", 16), ("resnet50", 8), ("mobilenetv2", 16), ("xception", 8), ("vgg16", 16)])
def test_dilation_keeps_resolution(name, output_stride):
    inputs = keras.Input((*SIZE, 3))
    features = build_backbone(name, inputs, output_stride=output_stride)
    for level, channels in zip((4, 8, 16, 32), FEATURE_CHANNELS[name]):
        stride = min(level, output_stride)
        assert tuple(features[level].shape[1:]) == (SIZE[0] // stride, SIZE[1] // stride, channels)


def test_dilation_rates_follow_deeplab_rule():
    # Output stride 16: conv5's first block keeps stride 1 at rate 1, the later blocks use rate 2.
    model = _features_model("resnet50", output_stride=16)
    assert model.get_layer("resnet50_conv5_block1_1_conv").strides == (1, 1)
    assert model.get_layer("resnet50_conv5_block1_2_conv").dilation_rate == (1, 1)
    assert model.get_layer("resnet50_conv5_block2_2_conv").dilation_rate == (2, 2)
    model = _features_model("mobilenetv2", output_stride=8)
    assert model.get_layer("mobilenetv2_block_6_depthwise").strides == (1, 1)
    assert model.get_layer("mobilenetv2_block_7_depthwise").dilation_rate == (2, 2)
    assert model.get_layer("mobilenetv2_block_14_depthwise").dilation_rate == (4, 4)


def test_resnet18_deep_stem():
    model = _features_model("resnet18_deep")
    stem = [model.get_layer(f"resnet18_deep_conv1_{i}_conv") for i in (1, 2, 3)]
    assert [(c.kernel_size, c.filters, c.strides) for c in stem] == [
        ((3, 3), 64, (2, 2)), ((3, 3), 64, (1, 1)), ((3, 3), 128, (1, 1))]
    assert model.get_layer("resnet18_deep_conv2_block1_0_conv").filters == 64  # 128 -> 64 projection


@pytest.mark.parametrize("name, application, options", [
    ("vgg16", "VGG16", {}),
    pytest.param("resnet50", "ResNet50", {}, marks=pytest.mark.slow),
    ("mobilenetv2", "MobileNetV2", {}),
    ("xception", "Xception", {"block1_padding": "valid"}),
])
def test_clone_matches_keras_application(name, application, options, tmp_path):
    """A Keras applications weights file loads layer for layer and gives the Keras network's output."""
    keras.utils.set_random_seed(1)
    size = (80, 96)  # Keras' Xception wants >= 71 pixels
    images = np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype(np.float32)
    reference = getattr(keras.applications, application)(include_top=False, weights=None,
                                                          input_shape=(*size, 3))
    path = str(tmp_path / f"{name}.weights.h5")
    reference.save_weights(path)
    model = _features_model(name, size=size, weights=path, **options)
    preprocess = getattr(keras.applications, {"VGG16": "vgg16", "ResNet50": "resnet",
                                              "MobileNetV2": "mobilenet_v2", "Xception": "xception"}[application])
    expected = reference(preprocess.preprocess_input(images.copy()), training=False).numpy()
    actual = model(images, training=False)[32].numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_npz_weights_round_trip(tmp_path, images):
    keras.utils.set_random_seed(2)
    source = _features_model("resnet18_deep")
    path = tmp_path / "resnet18_deep.npz"
    assert save_backbone_weights(source, "resnet18_deep", path) == len([l for l in source.layers if l.weights])
    # The same file loads at another output stride (dilation does not change weight shapes).
    target = _features_model("resnet18_deep", output_stride=32, weights=str(path))
    np.testing.assert_allclose(target(images, training=False)[32], source(images, training=False)[32], atol=1e-5)
    with pytest.raises(ValueError, match="no values for layer"):
        _features_model("resnet18", weights=str(path))


def test_bad_arguments_are_named():
    inputs = keras.Input((64, 64, 3))
    with pytest.raises(ValueError, match="unknown backbone 'resnet99'; valid: .*resnet50"):
        build_backbone("resnet99", inputs)
    with pytest.raises(ValueError, match="output_stride"):
        build_backbone("resnet18", inputs, output_stride=4)
    with pytest.raises(ValueError, match="not in keras.applications"):
        build_backbone("resnet18", inputs, weights="imagenet")
    with pytest.raises(ValueError, match="weights file not found"):
        build_backbone("mobilenetv2", inputs, weights="/nonexistent/file.h5")
    with pytest.raises(ValueError, match=r"\[batch, height, width, 3\]"):
        build_backbone("vgg16", keras.Input((64, 64, 1)))


def test_imagenet_offline_fails_fast_with_clear_message(tmp_path, monkeypatch):
    """No cached file and no network: a RuntimeError naming the remedy, raised at once, not a hang."""
    import time

    import keras.src.backend.config as keras_config

    monkeypatch.setattr(keras_config, "keras_home", lambda: str(tmp_path))  # empty Keras cache
    timeouts = []

    def blocked(*args, **kwargs):
        timeouts.append(socket.getdefaulttimeout())
        raise socket.gaierror(-2, "Name or service not known (network blocked by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setenv("KERASSEG_DOWNLOAD_TIMEOUT", "7")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="ImageNet weights.*weights=None") as info:
        build_backbone("mobilenetv2", keras.Input((32, 32, 3)), weights="imagenet")
    assert time.perf_counter() - start < 60
    assert "mobilenetv2" in str(info.value) and "_notop.h5" in str(info.value)
    assert timeouts and timeouts[0] == 7.0  # the download ran under the socket timeout
    assert socket.getdefaulttimeout() is None  # and the timeout was restored
