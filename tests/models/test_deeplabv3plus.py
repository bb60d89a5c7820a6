import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.models import DeepLabV3Plus
from tests.models.helpers import overfit, tiny_batch
from tests.conftest import keras_round_trip

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def dynamic_model():
    keras.utils.set_random_seed(0)
    return DeepLabV3Plus(NUM_CLASSES)


@pytest.fixture(scope="module")
def trained():
    """DeepLabv3+ MobileNetV2 overfitted on one tiny batch: (model, images, labels, losses)."""
    keras.utils.set_random_seed(0)
    model = DeepLabV3Plus(NUM_CLASSES, input_shape=(None, None, 3))
    images, labels = tiny_batch((64, 64), NUM_CLASSES, batch=2)
    losses = overfit(model, images, labels, steps=30)
    return model, images, labels, losses


def test_registered():
    assert "deeplabv3plus" in kerasseg.list_models()
    assert "DeepLabv3+" in kerasseg.get_model_spec("deeplabv3plus").paper


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_logits_at_input_resolution(dynamic_model, size):
    out = dynamic_model(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype(np.float32))
    assert out.shape == (2, *size, NUM_CLASSES) and np.isfinite(out.numpy()).all()


def test_unknown_height_width_inside_tf_function(dynamic_model):
    fn = tf.function(lambda x: dynamic_model(x, training=False),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([1, 32, 96, 3])).shape == (1, 32, 96, NUM_CLASSES)
    assert fn(tf.zeros([2, 80, 48, 3])).shape == (2, 80, 48, NUM_CLASSES)


def test_paper_structure(dynamic_model):
    layer = dynamic_model.get_layer
    # MobileNetV2 configuration: separable atrous convs at rates 6/12/18 (output stride 16), 256 channels.
    assert [layer(f"aspp_atrous{i}_depthwise").dilation_rate[0] for i in (1, 2, 3)] == [6, 12, 18]
    assert all(layer(n).filters == 256 for n in ("aspp_1x1_conv", "aspp_image_pool_conv", "aspp_projection_conv",
                                                  "decoder_conv1_pointwise_conv", "decoder_conv2_pointwise_conv"))
    assert layer("decoder_low_level_conv").filters == 48
    assert layer("aspp_concat").output.shape[-1] == 5 * 256
    assert layer("aspp_dropout").rate == 0.1
    assert isinstance(layer("aspp_image_pool_resize"), kerasseg.layers.Resize)
    # The encoder is block 16 (320 channels) without MobileNetV2's final 1x1 conv; low level is stride 4.
    assert layer("aspp_1x1_conv").input.shape[-1] == 320
    assert "mobilenetv2_Conv_1" not in [l.name for l in dynamic_model.layers]


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


@pytest.mark.parametrize("kwargs, message", [
    ({"backbone": "vgg16"}, "backbone must be one of"),
    ({"output_stride": 32}, "output_stride must be one of"),
    ({"light_head": True, "atrous_rates": (1, 2)}, "light_head"),
    ({"input_shape": (64, 64, 1)}, "height, width, 3"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeepLabV3Plus(NUM_CLASSES, **kwargs)


def test_overfits_a_tiny_batch(trained):
    model, images, labels, losses = trained
    assert losses[-1] < 0.25 * losses[0], losses
    accuracy = np.mean(model(images, training=False).numpy().argmax(-1) == labels)
    assert accuracy > 0.9, accuracy  # in inference mode, not only the training loss


def test_keras_round_trip_in_fresh_process(trained, tmp_path):
    model, images, _, _ = trained
    assert keras_round_trip(model, images, tmp_path) < 1e-4


def test_export_parity_every_format(trained, tmp_path):
    """SavedModel / TFLite fp32 / ONNX within 1e-4, fp16 and int8 (builtin ops only) agree on the trained model."""
    from kerasseg.export import export_model, tflite_ops

    model, images, labels, _ = trained
    result = export_model(model, tmp_path, input_size=(64, 64), representative_images=list(images),
                          parity_images=images, parity_labels=labels)
    rows = {row["format"]: row for row in result["parity"]}
    assert set(rows) == {"savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx"}
    failed = {fmt: (row["max_abs_diff"], row["argmax_agreement"]) for fmt, row in rows.items() if not row["passed"]}
    assert not failed, failed
    assert rows["tflite-int8"]["keras_miou"] > 0.8  # the agreement is measured on a model that segments
    ops = tflite_ops(result["artifacts"]["tflite-int8"])
    assert {"RESIZE_BILINEAR", "MEAN"} <= set(ops)
    # The SavedModel serves other sizes too (the image-pooling branch broadcasts at run time).
    from kerasseg.export import run_savedmodel

    other = np.random.default_rng(3).uniform(0, 255, (1, 48, 80, 3)).astype(np.float32)
    np.testing.assert_allclose(run_savedmodel(result["artifacts"]["savedmodel"], other),
                               model(other, training=False).numpy(), atol=1e-4)
