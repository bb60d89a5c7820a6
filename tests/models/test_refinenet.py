"""RefineNet and Light-Weight RefineNet. Default suite: RF-LW-MobileNetV2 end to end, RefineNet-ResNet-50 for its
parameter count and shapes; the other encoders are built in the slow tests only."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.models import LightWeightRefineNet, RefineNet
from tests.conftest import keras_round_trip
from tests.models.helpers import recalibrate_batch_norm


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def layer_types(model, prefix):
    return [type(layer).__name__ for layer in model.layers if layer.name.startswith(prefix)]


@pytest.fixture(scope="module")
def refinenet50():
    keras.utils.set_random_seed(0)
    return RefineNet(21, backbone="resnet50")


def test_registered():
    assert {"refinenet", "refinenet_lw"} <= set(kerasseg.list_models())
    assert kerasseg.get_model_spec("refinenet").size_divisor == 32
    assert kerasseg.get_model_spec("refinenet_lw").size_divisor == 32


def test_refinenet50_parameter_count(refinenet50):
    # The reference port of the authors' RefineNet-ResNet-50 (21 classes): about 99.1M parameters. Keras'
    # ResNet-50 has conv biases (+26,560 over torchvision's), hence the 0.1% tolerance.
    assert trainable_count(refinenet50) == 99_086_869
    assert abs(trainable_count(refinenet50) - 99.1e6) / 99.1e6 < 0.001


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_refinenet50_logits_at_input_resolution(refinenet50, size):
    out = refinenet50(np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype(np.float32))
    assert out.shape == (1, *size, 21) and np.isfinite(out.numpy()).all()


def test_refinenet_structure(refinenet50):
    layer = refinenet50.get_layer
    assert layer("refine4_adapt_conv").filters == 512 and layer("refine4_adapt_conv").kernel_size == (3, 3)
    assert all(layer(f"refine{b}_adapt_conv").filters == 256 for b in (3, 2, 1))
    # Two input RCUs per path, chained residual pooling with four 5x5 pool + 3x3 conv stages, output RCUs.
    assert all(layer(f"refine{b}_adapt_rcu_2_add") for b in (4, 3, 2, 1))
    assert layer("refine3_crp_pool4").pool_size == (5, 5) and layer("refine3_crp_conv4").kernel_size == (3, 3)
    assert layer("refine1_out_rcu_3_add") is not None
    assert layer("refine3_fusion_conv2").filters == 256  # RefineNet-4's 512 channels fused down to 256
    assert "BatchNormalization" not in layer_types(refinenet50, "refine")
    # Chained: each pooling stage reads the previous stage's conv, not the block input.
    assert layer("refine2_crp_pool3").input is layer("refine2_crp_conv2").output


def test_paper_layout_has_one_output_rcu_except_the_last_block():
    model = RefineNet(3, input_shape=(64, 64, 3), backbone="resnet50", output_rcus=1)
    names = {layer.name for layer in model.layers}
    assert "refine4_out_rcu_1_add" in names and "refine4_out_rcu_2_add" not in names
    assert "refine1_out_rcu_3_add" in names


@pytest.mark.parametrize("builder, kwargs, match", [
    (RefineNet, {"backbone": "mobilenetv2"}, "backbone must be one of"),
    (LightWeightRefineNet, {"backbone": "vgg16"}, "backbone must be one of"),
    (RefineNet, {"output_rcus": 0}, "output_rcus"),
    (LightWeightRefineNet, {"input_shape": (64, 80, 3)}, "multiple of 32"),
])
def test_bad_arguments_are_rejected(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**{"num_classes": 3, **kwargs})


@pytest.fixture(scope="module")
def lw_mobilenet():
    keras.utils.set_random_seed(0)
    return LightWeightRefineNet(5, backbone="mobilenetv2")


def test_lw_mobilenetv2_parameter_count():
    model = LightWeightRefineNet(21, input_shape=(64, 64, 3), backbone="mobilenetv2")
    # RF-LW-MobileNetV2 for 21 classes: 3.3M parameters (Nekrasov et al., Table 1).
    assert trainable_count(model) == 3_283_477
    assert abs(trainable_count(model) - 3.3e6) / 3.3e6 < 0.01
    layer = model.get_layer
    assert [layer(f"adapt_{c}").kernel_size for c in (24, 32, 64, 96, 160, 320)] == [(1, 1)] * 6
    assert layer("refine1_crp_conv4").kernel_size == (1, 1) and layer("classifier").kernel_size == (3, 3)
    assert "ResidualConvUnit" not in str(layer_types(model, "refine")) and "refine1_out_rcu_1_add" not in [
        lay.name for lay in model.layers]
    assert layer("refine3_crp_relu").max_value == 6.0


@pytest.mark.parametrize("size", [(64, 64), (96, 64)])
def test_lw_mobilenetv2_logits_at_input_resolution(lw_mobilenet, size):
    out = lw_mobilenet(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype(np.float32))
    assert out.shape == (2, *size, 5) and np.isfinite(out.numpy()).all()


def test_lw_mobilenetv2_unknown_height_width_inside_tf_function(lw_mobilenet):
    fn = tf.function(lambda x: lw_mobilenet(x, training=False),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([1, 32, 96, 3])).shape == (1, 32, 96, 5)


def test_lw_mobilenetv2_keras_round_trip_in_fresh_process(lw_mobilenet, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    assert keras_round_trip(lw_mobilenet, x, tmp_path) < 1e-5


@pytest.fixture(scope="module")
def overfit_lw_mobilenet():
    images, labels = next(iter(kerasseg.data.shapes_dataset(2, image_size=(64, 64), seed=3).batch(2)))
    num_classes = len(kerasseg.data.SHAPES_CLASSES)
    keras.utils.set_random_seed(1)
    model = LightWeightRefineNet(num_classes, input_shape=(64, 64, 3), backbone="mobilenetv2")
    # A small learning rate: the decoder has no BN and a from-scratch MobileNetV2 diverges at 2e-3.
    model.compile(optimizer=keras.optimizers.Adam(2e-4), loss=SegmentationCrossEntropy(num_classes),
                  jit_compile=False)
    loss = SegmentationCrossEntropy(num_classes)
    before = float(loss(labels, model(images, training=True)))
    model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=50, epochs=1, verbose=0,
              shuffle=False)
    after = float(loss(labels, model(images, training=True)))
    recalibrate_batch_norm(model, images)
    return model, images.numpy(), labels.numpy(), before, after


def test_lw_mobilenetv2_overfits_one_batch(overfit_lw_mobilenet):
    model, images, labels, before, after = overfit_lw_mobilenet
    assert after < 0.3 * before, (before, after)
    assert np.mean(model(images).numpy().argmax(-1) == labels) > 0.8


def test_lw_mobilenetv2_tflite_and_onnx_parity_on_trained_weights(overfit_lw_mobilenet, tmp_path):
    from kerasseg.export import assert_builtin_ops_only, export_model

    model, images, _, _, _ = overfit_lw_mobilenet
    result = export_model(model, tmp_path, formats=["tflite-fp32", "onnx"], input_size=(64, 64),
                          parity_images=images)
    rows = {row["format"]: row for row in result["parity"]}
    assert all(row["passed"] for row in rows.values()), rows
    # Trained logits reach tens: the max|dlogit| criterion (1e-4) scales with them (float32 round-off).
    assert all(row["logit_scale"] > 5 and row["max_abs_diff"] <= 1e-5 * row["logit_scale"] * 10
               and row["argmax_agreement"] > 0.999 for row in rows.values()), rows
    assert_builtin_ops_only(result["artifacts"]["tflite-fp32"])


@pytest.mark.slow
@pytest.mark.parametrize("builder, backbone, expected, reference", [
    # RefineNet-ResNet-101, 21 classes: 118.1M in the reference port (Nekrasov et al., Table 1).
    (RefineNet, "resnet101", 118_105_109, 118.1e6),
    # RF-LW-ResNet-50 / -101, 21 classes: 27M / 46M (Nekrasov et al., Table 1; 27.4M in the reference port).
    (LightWeightRefineNet, "resnet50", 27_384_085, 27.4e6),
    (LightWeightRefineNet, "resnet101", 46_402_325, 46.4e6),
])
def test_larger_encoders_parameter_counts(builder, backbone, expected, reference):
    model = builder(21, input_shape=(64, 64, 3), backbone=backbone)
    assert trainable_count(model) == expected
    assert abs(expected - reference) / reference < 0.002
    assert model(np.zeros((1, 64, 64, 3), np.float32)).shape == (1, 64, 64, 21)


@pytest.mark.slow
def test_refinenet152_builds():
    model = RefineNet(21, input_shape=(64, 64, 3), backbone="resnet152")
    assert model.output_shape == (None, 64, 64, 21)
    assert 130e6 < trainable_count(model) < 140e6
