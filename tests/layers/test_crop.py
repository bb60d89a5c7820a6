"""CropToReference."""
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import CropToReference


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
