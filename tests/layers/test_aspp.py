"""The ASPP block."""
import keras
import pytest
import tensorflow as tf

from kerasseg.layers import aspp


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
