import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.layers import bilinear_kernel_2d
from kerasseg.models import FCN8s, FCN16s, FCN32s
from kerasseg.utils import count_params
from tests.helpers import ModelTester, overfit, random_images, tiny_batch

NUM_CLASSES = 3
BUILDERS = {"fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s}


@pytest.fixture(scope="module")
def narrow():
    """FCN-32s and FCN-16s with fc6/fc7 narrowed to 16 channels (same graph, few weights), dynamic input size."""
    keras.utils.set_random_seed(0)
    return {name: BUILDERS[name](NUM_CLASSES, fc_units=16) for name in ("fcn32s", "fcn16s")}


class TestFCN8s(ModelTester):
    architecture = "fcn8s"
    paper = "Fully Convolutional Networks"
    num_classes = NUM_CLASSES
    build_kwargs = {"fc_units": 16}
    sizes = ((45, 31), (37, 50))
    bad_arguments = [({"fc_units": 0}, "fc_units"), ({"dropout_rate": 1.0}, "dropout_rate")]
    export_size = (37, 50)
    round_trip_tolerance = 1e-4
    skip_export_reason = ("VGG16 (15M weights) converts in about a minute: test_export_parity_every_format (slow) "
                          "exports a trained FCN-8s to every format")

    @pytest.fixture(scope="class")
    @classmethod
    def parity_model(cls, model):
        """The narrow FCN-8s with non-zero score layers (they are zero-initialised), so comparisons mean something."""
        for layer in ("score_fr", "score_pool4", "score_pool3"):
            kernel, bias = model.get_layer(layer).get_weights()
            model.get_layer(layer).set_weights([np.random.default_rng(0).normal(0, 0.1, kernel.shape), bias])
        return model, random_images(cls.export_size)

    def test_a_single_pixel_inside_tf_function(self, model):
        fn = tf.function(lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        assert fn(tf.zeros([1, 1, 1, 3])).shape == (1, 1, 1, NUM_CLASSES)


@pytest.mark.parametrize("name, trainable, frozen", [
    ("fcn32s", 134_346_581, 64 * 64 * 21 * 21),
    ("fcn16s", 134_357_354, (4 * 4 + 32 * 32) * 21 * 21),
    ("fcn8s", 134_362_751, (4 * 4 + 4 * 4 + 16 * 16) * 21 * 21),
])
def test_parameter_count_matches_reference_caffe_nets(name, trainable, frozen):
    """Trainable = the reference nets' learnable parameters (21 classes); the bilinear kernels are frozen."""
    model = kerasseg.build_model(name, 21)
    counts = count_params(model)
    assert counts["trainable"] == trainable
    assert counts["non_trainable"] == frozen  # VGG16 has no batch norm: only the up-sampling kernels
    del model


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s"])
@pytest.mark.parametrize("size", [(64, 64), (37, 50)])
def test_logits_at_input_resolution(narrow, name, size):
    out = narrow[name](random_images(size))
    assert out.shape == (1, *size, NUM_CLASSES)


def test_reference_structure(narrow):
    model = kerasseg.build_model("fcn8s", NUM_CLASSES, input_shape=(64, 64, 3), fc_units=16)
    layer = model.get_layer
    assert layer("vgg16_block1_pad").padding == ((100, 100), (100, 100))
    assert layer("fc6").kernel_size == (7, 7) and layer("fc6").padding == "valid"
    assert layer("drop6").rate == 0.5 and layer("drop7").rate == 0.5
    assert layer("scale_pool4").scale == 0.01 and layer("scale_pool3").scale == 1e-4
    assert [layer(n).offset for n in ("score_pool4c", "score_pool3c", "score")] == [5, 9, 31]
    assert [layer(n).kernel_size[0] for n in ("upscore2", "upscore_pool4", "upscore8")] == [4, 4, 16]
    assert not np.any(layer("score_fr").get_weights()[0])  # zero-initialised scores, as in the paper
    staged = FCN8s(NUM_CLASSES, input_shape=(64, 64, 3), fc_units=16, at_once=False)
    assert not any(l.name.startswith("scale_") for l in staged.layers)
    assert narrow["fcn32s"].get_layer("score").offset == 19 and narrow["fcn16s"].get_layer("score").offset == 27


def test_upsampling_is_frozen_bilinear(narrow):
    upscore = narrow["fcn32s"].get_layer("upscore")
    assert not upscore.trainable and upscore.kernel_size == (64, 64) and upscore.strides == (32, 32)
    kernel = upscore.get_weights()[0]
    np.testing.assert_allclose(kernel[:, :, 1, 1], bilinear_kernel_2d(64))
    assert not np.any(kernel[:, :, 0, 1])  # no cross-class taps
    # A 2x bilinear transposed conv reproduces linear interpolation inside the map.
    tconv = keras.layers.Conv2DTranspose(1, 4, strides=2, use_bias=False,
                                         kernel_initializer=kerasseg.layers.BilinearUpsamplingKernel())
    ramp = np.arange(6, dtype=np.float32)[None, :, None, None] * np.ones((1, 1, 6, 1), np.float32)
    out = tconv(ramp).numpy()[0, 3:-3, 3:-3, 0]
    np.testing.assert_allclose(np.diff(out, axis=0), 0.5, atol=1e-6)
    learnable = FCN32s(NUM_CLASSES, input_shape=(32, 32, 3), fc_units=16, learnable_upsampling=True)
    assert learnable.get_layer("upscore").trainable


def test_imagenet_weights_need_full_fc_width():
    with pytest.raises(ValueError, match="fc_units=4096"):
        FCN32s(NUM_CLASSES, input_shape=(32, 32, 3), fc_units=16, weights="imagenet")


@pytest.fixture(scope="module")
def trained_fcn8s():
    keras.utils.set_random_seed(0)
    model = FCN8s(NUM_CLASSES, fc_units=64)
    images, labels = tiny_batch((32, 32), NUM_CLASSES, batch=2)
    losses = overfit(model, images, labels, steps=60, learning_rate=1e-2)
    return model, images, labels, losses


@pytest.mark.slow
def test_overfits_a_tiny_batch(trained_fcn8s):
    # From random VGG16 weights (no batch norm) 60 steps take the loss from ln(3) to about the class prior's
    # entropy (0.74 measured); learning the squares themselves needs ImageNet weights or a longer run.
    model, images, labels, losses = trained_fcn8s
    assert losses[-1] < 0.75 * losses[0], losses


@pytest.mark.slow
def test_export_parity_every_format(trained_fcn8s, tmp_path):
    """FCN-8s at fc_units=64 (VGG16 and the skip/crop graph unchanged): every format within its parity bar."""
    from kerasseg.export import export_model

    model, images, labels, _ = trained_fcn8s
    result = export_model(model, tmp_path, input_size=(32, 32), representative_images=list(images),
                          parity_images=images, parity_labels=labels)
    failed = {r["format"]: (r["max_abs_diff"], r["argmax_agreement"]) for r in result["parity"] if not r["passed"]}
    assert not failed, failed
