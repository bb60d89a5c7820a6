import keras
import numpy as np
import pytest

from kerasseg.layers import activation_layer, conv_bn_act


def test_layers_names_and_settings():
    x = keras.Input((None, None, 4))
    y = conv_bn_act(x, 6, 3, "b", strides=2, dilation_rate=1, activation="prelu", activation_suffix="act",
                    bn_momentum=0.9, bn_epsilon=1e-5)
    model = keras.Model(x, y)
    assert [l.name for l in model.layers[1:]] == ["b_conv", "b_bn", "b_act"]
    conv, bn, act = model.layers[1:]
    assert conv.strides == (2, 2) and not conv.use_bias and conv.padding == "same"
    assert (bn.momentum, bn.epsilon) == (0.9, 1e-5)
    assert isinstance(act, keras.layers.PReLU) and np.allclose(act.alpha.numpy(), 0.25)
    assert model(np.ones((1, 8, 8, 4), np.float32)).shape == (1, 4, 4, 6)


def test_separable_and_no_activation():
    x = keras.Input((8, 8, 4))
    model = keras.Model(x, conv_bn_act(x, 5, 3, "s", dilation_rate=2, separable=True, activation=None))
    assert [l.name for l in model.layers[1:]] == ["s_depthwise", "s_depthwise_bn", "s_pointwise_conv",
                                                  "s_pointwise_bn"]
    assert model.get_layer("s_depthwise").dilation_rate == (2, 2)
    one = keras.Model(x, conv_bn_act(x, 5, 1, "p", separable=True))  # a 1x1 kernel is never separable
    assert [l.name for l in one.layers[1:]] == ["p_conv", "p_bn", "p_relu"]


def test_activation_choices():
    assert activation_layer("relu6", "r").max_value == 6.0
    with pytest.raises(ValueError, match="activation must be one of 'relu', 'relu6', 'prelu'; got 'gelu'"):
        activation_layer("gelu", "g")
