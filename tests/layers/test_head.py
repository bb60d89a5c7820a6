import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import Resize, segmentation_head


def test_head_layers_and_dynamic_size():
    image = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(4, 3, strides=4, padding="same")(image)
    model = keras.Model(image, segmentation_head(features, 5, image, name="aux8", kernel_size=3, dropout_rate=0.1,
                                                 spatial_dropout=True))
    layer = model.get_layer
    assert isinstance(layer("aux8_dropout"), keras.layers.SpatialDropout2D) and layer("aux8_dropout").rate == 0.1
    assert layer("aux8_classifier").kernel_size == (3, 3) and layer("aux8_classifier").use_bias
    assert isinstance(layer("aux8_upsample"), Resize)
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([2, 20, 28, 3])).shape == (2, 20, 28, 5)
    plain = keras.Model(image, segmentation_head(features, 2, image))
    assert [l.name for l in plain.layers[-2:]] == ["classifier", "upsample"]
    assert np.isfinite(plain(np.ones((1, 8, 8, 3), np.float32))).all()


@pytest.mark.parametrize("kwargs, message", [({"num_classes": 0}, "num_classes"), ({"dropout_rate": 1.0}, "dropout")])
def test_bad_arguments(kwargs, message):
    image = keras.Input((8, 8, 3))
    with pytest.raises(ValueError, match=message):
        segmentation_head(image, **{"num_classes": 2, "reference": image, **kwargs})
