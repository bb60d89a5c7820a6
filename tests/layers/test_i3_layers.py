"""ImagePreprocess, CropToReference, BilinearUpsamplingKernel and the ASPP block."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import BilinearUpsamplingKernel, CropToReference, ImagePreprocess, aspp, bilinear_kernel_2d


def test_preprocess_modes_match_keras_applications():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(ImagePreprocess("caffe")(x),
                               keras.applications.resnet.preprocess_input(x.copy()), atol=1e-4)
    np.testing.assert_allclose(ImagePreprocess("tf")(x),
                               keras.applications.mobilenet_v2.preprocess_input(x.copy()), atol=1e-5)
    np.testing.assert_allclose(ImagePreprocess("torch")(x),
                               keras.applications.imagenet_utils.preprocess_input(x.copy(), mode="torch"),
                               atol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        ImagePreprocess("bgr")


def test_crop_to_reference_dynamic_and_checked():
    crop = CropToReference(2)
    fn = tf.function(lambda x, r: crop([x, r]),
                     input_signature=[tf.TensorSpec([None, None, None, 1]), tf.TensorSpec([None, None, None, 3])])
    x = tf.reshape(tf.range(100, dtype=tf.float32), [1, 10, 10, 1])
    out = fn(x, tf.zeros([1, 3, 4, 3]))
    np.testing.assert_array_equal(out.numpy()[0, :, :, 0], x.numpy()[0, 2:5, 2:6, 0])
    with pytest.raises(ValueError, match="cannot crop"):
        CropToReference(8)([tf.zeros([1, 10, 10, 1]), tf.zeros([1, 3, 3, 1])])
    with pytest.raises(ValueError, match="offset"):
        CropToReference(-1)


def test_bilinear_kernel_matches_fcn_upsample_filt():
    np.testing.assert_allclose(bilinear_kernel_2d(4)[0], [0.0625, 0.1875, 0.1875, 0.0625])
    np.testing.assert_allclose(bilinear_kernel_2d(3)[1], [0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="square kernel"):
        BilinearUpsamplingKernel()((4, 4, 2, 3))


def test_aspp_branches_and_dynamic_image_pooling():
    inputs = keras.Input((None, None, 8))
    model = keras.Model(inputs, aspp(inputs, filters=4, atrous_rates=(2, 3), separable=True, name="a"))
    names = [l.name for l in model.layers]
    assert "a_atrous1_depthwise" in names and "a_atrous2_pointwise_conv" in names
    assert model.get_layer("a_atrous2_depthwise").dilation_rate == (3, 3)
    assert model.get_layer("a_concat").output.shape[-1] == 4 * 4  # 1x1, two atrous, image pooling
    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 8])])
    assert fn(tf.ones([1, 5, 7, 8])).shape == (1, 5, 7, 4)
    with pytest.raises(ValueError, match="atrous_rates"):
        aspp(inputs, atrous_rates=(0,))
