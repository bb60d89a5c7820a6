"""RefineNet and Light-Weight RefineNet. Default suite: RF-LW-MobileNetV2 end to end, RefineNet-ResNet-50 for its
parameter count and shapes; the other encoders are built in the slow tests only."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.models import LightWeightRefineNet, RefineNet
from tests.helpers import ModelTester, random_images, recalibrate_batch_norm, trainable_count


def layer_types(model, prefix):
    return [type(layer).__name__ for layer in model.layers if layer.name.startswith(prefix)]


class TestRefineNet(ModelTester):
    """RefineNet-ResNet-50 (the smallest encoder: 99M parameters at 21 classes)."""

    architecture = "refinenet"
    size_divisor = 32
    paper = "RefineNet"
    num_classes = 21
    build_kwargs = {"backbone": "resnet50"}
    sizes = ((64, 64), (64, 96))
    bad_arguments = [({"output_rcus": 0}, "output_rcus"),
                     ({"backbone": "mobilenetv2"}, "unknown backbone 'mobilenetv2'; valid: resnet50, resnet101, resnet152")]
    skip_export_reason = ("a 99M-parameter conversion does not fit the default suite: RefineNet's own blocks are "
                          "exported in tests/export/test_refinenet_blocks_export.py, RF-LW below")
    skip_round_trip_reason = "a 99M-parameter .keras file (400 MB); RF-LW below makes the round trip"

    def test_refinenet50_parameter_count(self, model):
        # The reference port of the authors' RefineNet-ResNet-50 (21 classes): about 99.1M parameters. Keras'
        # ResNet-50 has conv biases (+26,560 over torchvision's), hence the 0.1% tolerance.
        assert trainable_count(model) == 99_086_869
        assert abs(trainable_count(model) - 99.1e6) / 99.1e6 < 0.001

    def test_refinenet_structure(self, model):
        layer = model.get_layer
        assert layer("refine4_adapt_conv").filters == 512 and layer("refine4_adapt_conv").kernel_size == (3, 3)
        assert all(layer(f"refine{b}_adapt_conv").filters == 256 for b in (3, 2, 1))
        # Two input RCUs per path, chained residual pooling with four 5x5 pool + 3x3 conv stages, output RCUs.
        assert all(layer(f"refine{b}_adapt_rcu_2_add") for b in (4, 3, 2, 1))
        assert layer("refine3_crp_pool4").pool_size == (5, 5) and layer("refine3_crp_conv4").kernel_size == (3, 3)
        assert layer("refine1_out_rcu_3_add") is not None
        assert layer("refine3_fusion_conv2").filters == 256  # RefineNet-4's 512 channels fused down to 256
        assert "BatchNormalization" not in layer_types(model, "refine")
        # Chained: each pooling stage reads the previous stage's conv, not the block input.
        assert layer("refine2_crp_pool3").input is layer("refine2_crp_conv2").output


def test_paper_layout_has_one_output_rcu_except_the_last_block():
    model = RefineNet(3, input_shape=(64, 64, 3), backbone="resnet50", output_rcus=1)
    names = {layer.name for layer in model.layers}
    assert "refine4_out_rcu_1_add" in names and "refine4_out_rcu_2_add" not in names
    assert "refine1_out_rcu_3_add" in names


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


class TestLightWeightRefineNet(ModelTester):
    """RF-LW-MobileNetV2 end to end: the harness, then training and parity on the trained weights."""

    architecture = "refinenet_lw"
    size_divisor = 32
    paper = "Light-Weight RefineNet"
    num_classes = len(kerasseg.data.SHAPES_CLASSES)
    build_kwargs = {"backbone": "mobilenetv2"}
    sizes = ((64, 64), (96, 64))
    bad_arguments = [({"backbone": "vgg16"}, "unknown backbone 'vgg16'; valid: ")]

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls):
        """RF-LW-MobileNetV2 fitted on one shapes batch: (model, images, labels, loss before, loss after)."""
        images, labels = next(iter(kerasseg.data.shapes_dataset(2, image_size=(64, 64), seed=3).batch(2)))
        keras.utils.set_random_seed(1)
        model = cls.build(input_shape=(64, 64, 3))
        # A small learning rate: the decoder has no BN and a from-scratch MobileNetV2 diverges at 2e-3.
        model.compile(optimizer=keras.optimizers.Adam(2e-4), loss=SegmentationCrossEntropy(cls.num_classes),
                      jit_compile=False)
        loss = SegmentationCrossEntropy(cls.num_classes)
        before = float(loss(labels, model(images, training=True)))
        model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=50, epochs=1, verbose=0,
                  shuffle=False)
        after = float(loss(labels, model(images, training=True)))
        recalibrate_batch_norm(model, images)
        return model, images.numpy(), labels.numpy(), before, after

    @pytest.fixture(scope="class")
    @classmethod
    def parity_model(cls, trained):
        return trained[:3]

    def test_overfits_one_batch(self, trained):
        model, images, labels, before, after = trained
        assert after < 0.3 * before, (before, after)
        assert np.mean(model(images).numpy().argmax(-1) == labels) > 0.8

    def test_parity_scales_with_the_trained_logits(self, export_result):
        rows = {row["format"]: row for row in export_result["parity"]}
        # Trained logits reach tens: the max|dlogit| criterion (1e-4) scales with them (float32 round-off).
        assert all(row["logit_scale"] > 5 and row["max_abs_diff"] <= 1e-5 * row["logit_scale"] * 10
                   and row["argmax_agreement"] > 0.999 for row in rows.values()), rows


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
