"""DeepLabv3+: what is particular to it (the shared checks come from `ModelTester`)."""
import keras
import numpy as np
import pytest

import kerasseg
from kerasseg.models import DeepLabV3Plus
from tests.helpers import ModelTester, overfit, tiny_batch

NUM_CLASSES = 3


class TestDeepLabV3Plus(ModelTester):
    architecture = "deeplabv3plus"
    paper = "DeepLabv3+"
    num_classes = NUM_CLASSES
    sizes = ((64, 64), (48, 80))
    bad_arguments = [
        ({"output_stride": 32}, "output_stride must be one of"),
        ({"light_head": True, "atrous_rates": (1, 2)}, "light_head"),
    ]
    export_formats = ("savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx")
    round_trip_tolerance = 1e-4

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls):
        """DeepLabv3+ MobileNetV2 overfitted on one tiny batch: (model, images, labels, losses)."""
        keras.utils.set_random_seed(0)
        model = DeepLabV3Plus(NUM_CLASSES, input_shape=(None, None, 3))
        images, labels = tiny_batch((64, 64), NUM_CLASSES, batch=2)
        losses = overfit(model, images, labels, steps=30)
        return model, images, labels, losses

    @pytest.fixture(scope="class")
    @classmethod
    def parity_model(cls, trained):
        return trained[:3]

    def test_overfits_a_tiny_batch(self, trained):
        model, images, labels, losses = trained
        assert losses[-1] < 0.25 * losses[0], losses
        accuracy = np.mean(model(images, training=False).numpy().argmax(-1) == labels)
        assert accuracy > 0.9, accuracy  # in inference mode, not only the training loss

    def test_paper_structure(self, model):
        layer = model.get_layer
        # MobileNetV2 configuration: separable atrous convs at rates 6/12/18 (output stride 16), 256 channels.
        assert [layer(f"aspp_atrous{i}_depthwise").dilation_rate[0] for i in (1, 2, 3)] == [6, 12, 18]
        assert all(layer(n).filters == 256 for n in (
            "aspp_1x1_conv", "aspp_image_pool_conv", "aspp_projection_conv", "decoder_conv1_pointwise_conv",
            "decoder_conv2_pointwise_conv"))
        assert layer("decoder_low_level_conv").filters == 48
        assert layer("aspp_concat").output.shape[-1] == 5 * 256
        assert layer("aspp_dropout").rate == 0.1
        assert isinstance(layer("aspp_image_pool_resize"), kerasseg.layers.Resize)
        # The encoder is block 16 (320 channels) without MobileNetV2's final 1x1 conv; low level is stride 4.
        assert layer("aspp_1x1_conv").input.shape[-1] == 320
        assert "mobilenetv2_Conv_1" not in [l.name for l in model.layers]
        assert layer("classifier").kernel_size == (1, 1) and isinstance(layer("upsample"), kerasseg.layers.Resize)

    def test_int8_segments_with_builtin_resize_and_pooling(self, export_result, parity_model):
        """The agreement is measured on a model that segments; the SavedModel serves other sizes too."""
        from kerasseg.export import run_savedmodel, tflite_ops

        model = parity_model[0]
        rows = {row["format"]: row for row in export_result["parity"]}
        assert rows["tflite-int8"]["keras_miou"] > 0.8
        assert {"RESIZE_BILINEAR", "MEAN"} <= set(tflite_ops(export_result["artifacts"]["tflite-int8"]))
        # The image-pooling branch broadcasts at run time.
        other = np.random.default_rng(3).uniform(0, 255, (1, 48, 80, 3)).astype(np.float32)
        np.testing.assert_allclose(run_savedmodel(export_result["artifacts"]["savedmodel"], other),
                                   model(other, training=False).numpy(), atol=1e-4)


def test_output_stride_8_rates_and_plain_convs():
    model = DeepLabV3Plus(NUM_CLASSES, input_shape=(64, 64, 3), output_stride=8, separable=False)
    assert [model.get_layer(f"aspp_atrous{i}_conv").dilation_rate[0] for i in (1, 2, 3)] == [12, 24, 36]
    assert model.get_layer("aspp_1x1_conv").input.shape[1:3] == (8, 8)
    assert model.output_shape == (None, 64, 64, NUM_CLASSES)


def test_light_head_has_no_atrous_branches():
    model = DeepLabV3Plus(NUM_CLASSES, input_shape=(64, 64, 3), light_head=True)
    names = [l.name for l in model.layers]
    assert not any("atrous" in n for n in names) and "aspp_image_pool_conv" in names
    assert model.get_layer("aspp_concat").output.shape[-1] == 2 * 256
    assert model.count_params() < DeepLabV3Plus(NUM_CLASSES, input_shape=(64, 64, 3)).count_params()


def test_xception_builds_with_separable_convs():
    model = DeepLabV3Plus(NUM_CLASSES, input_shape=(64, 96, 3), backbone="xception")
    assert model.output_shape == (None, 64, 96, NUM_CLASSES)
    assert model.get_layer("decoder_low_level_conv").input.shape[1:] == (16, 24, 256)
    assert model.get_layer("aspp_atrous1_depthwise").dilation_rate == (6, 6)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet50", "resnet101"])
def test_resnet_backbones_build(backbone):
    model = DeepLabV3Plus(NUM_CLASSES, input_shape=(64, 96, 3), backbone=backbone)
    assert model.output_shape == (None, 64, 96, NUM_CLASSES)
    assert model.get_layer("decoder_low_level_conv").input.shape[1:] == (16, 24, 256)
    assert model.get_layer("aspp_1x1_conv").input.shape[1:] == (4, 6, 2048)
    assert model.get_layer("aspp_atrous1_conv").dilation_rate == (6, 6)  # ResNets: plain atrous convs
