import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import ChannelZeroPad, Resize


def test_scale_and_reference_sizes():
    x = tf.random.normal([2, 5, 7, 3])
    assert Resize(scale=4)(x).shape == (2, 20, 28, 3)
    reference = tf.zeros([2, 9, 11, 1])
    out = Resize()([x, reference])
    assert out.shape == (2, 9, 11, 3)
    np.testing.assert_allclose(out.numpy(), tf.image.resize(x, [9, 11]).numpy(), atol=1e-6)


def test_unknown_height_width_inside_tf_function():
    layer = Resize(scale=2)
    to_ref = Resize(interpolation="nearest")
    fn = tf.function(lambda x, r: (layer(x), to_ref([x, r])),
                     input_signature=[tf.TensorSpec([None, None, None, 4]), tf.TensorSpec([None, None, None, 1])])
    up, matched = fn(tf.ones([1, 3, 5, 4]), tf.zeros([1, 6, 2, 1]))
    assert up.shape == (1, 6, 10, 4) and matched.shape == (1, 6, 2, 4)


def test_keeps_dtype_and_validates_arguments():
    assert Resize(scale=2, dtype="mixed_float16")(tf.ones([1, 2, 2, 1])).dtype == tf.float16
    with pytest.raises(ValueError, match="interpolation"):
        Resize(interpolation="cubic")
    with pytest.raises(ValueError, match="scale"):
        Resize(scale=1.5)
    with pytest.raises(ValueError, match="reference"):
        Resize()(tf.ones([1, 2, 2, 1]))


def test_channel_zero_pad():
    x = tf.random.normal([1, 2, 2, 3])
    y = ChannelZeroPad(5)(x).numpy()
    assert y.shape == (1, 2, 2, 8)
    np.testing.assert_array_equal(y[..., :3], x.numpy())
    assert not y[..., 3:].any()
    with pytest.raises(ValueError, match="pad_channels"):
        ChannelZeroPad(-1)
