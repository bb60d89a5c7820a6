"""Convolution -> batch normalisation -> activation: the one way the models build this block.

Batch normalisation is created in `batch_normalization` only, so a model's BN settings (momentum, epsilon) are
passed once and a different BN implementation can be switched in one place. References: Ioffe, Szegedy, "Batch
Normalization", ICML 2015; He et al., "Delving Deep into Rectifiers" (PReLU), ICCV 2015; Chollet, "Xception"
(depthwise-separable convolution), CVPR 2017, with BN + activation after both parts as in DeepLabv3+
(Chen et al., ECCV 2018).
"""
import keras

from kerasseg.layers.normalization import BatchNormalization
from kerasseg.layers.prelu import PReLU

#: Activations `activation_layer` builds; None means no activation.
ACTIVATIONS = ("relu", "relu6", "prelu")


def batch_normalization(x, name, momentum=0.99, epsilon=1e-3):
    """Batch normalisation over the channel axis (kerasseg's `BatchNormalization`: Keras' layer on the fused
    kernel, same variables and results).

    Args:
        x: input tensor [B, H, W, C].
        name: the layer's name.
        momentum: moving-statistics momentum (Keras convention: 0.99 keeps 99% of the old value; PyTorch's
            momentum 0.1 is Keras' 0.9).
        epsilon: added to the variance.

    Returns:
        The normalised tensor.
    """
    return BatchNormalization(momentum=momentum, epsilon=epsilon, name=name)(x)


def activation_layer(kind, name):
    """The activation layer `kind`.

    Args:
        kind: "relu", "relu6" (ReLU capped at 6, MobileNetV2 / Light-Weight RefineNet) or "prelu" (one slope per
            channel, shared over height and width, initialised to 0.25 as in PyTorch and the ENet Torch code;
            kerasseg's `PReLU`, which stays float32 in int8 TFLite models, where XNNPACK runs it).
        name: the layer's name.

    Returns:
        A Keras layer.
    """
    if kind == "relu":
        return keras.layers.ReLU(name=name)
    if kind == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=name)
    if kind == "prelu":
        return PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)
    raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {kind!r}.")


def conv_bn_act(x, filters, kernel_size, name, strides=1, dilation_rate=1, use_bias=False, separable=False,
                activation="relu", activation_suffix="relu", bn_momentum=0.99, bn_epsilon=1e-3):
    """Conv ("same" padding) -> BN -> activation, or the separable form depthwise -> BN -> act -> 1x1 -> BN -> act.

    Layer names: `{name}_conv`, `{name}_bn`, `{name}_{activation_suffix}`; separable: `{name}_depthwise`,
    `{name}_depthwise_bn`, `{name}_depthwise_{activation_suffix}`, then the 1x1 part under `{name}_pointwise`.

    Args:
        x: input tensor [B, H, W, C].
        filters: output channels.
        kernel_size: int or (kh, kw) of the (depthwise) kernel.
        name: prefix of the layer names.
        strides: conv strides.
        dilation_rate: atrous rate of the (depthwise) conv.
        use_bias: conv bias (False: BN follows; the SFNet reference keeps it on its lateral convs).
        separable: depthwise-separable instead of a full conv (ignored for a 1x1 kernel).
        activation: one of `ACTIVATIONS`, or None for conv -> BN only.
        activation_suffix: name suffix of the activation layers ("relu"; ENet uses "act").
        bn_momentum, bn_epsilon: the model's batch-normalisation settings (see `batch_normalization`).

    Returns:
        The output tensor.
    """
    bn = dict(momentum=bn_momentum, epsilon=bn_epsilon)
    if separable and kernel_size not in (1, (1, 1)):
        x = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", dilation_rate=dilation_rate,
                                         use_bias=use_bias, name=f"{name}_depthwise")(x)
        x = batch_normalization(x, f"{name}_depthwise_bn", **bn)
        if activation:
            x = activation_layer(activation, f"{name}_depthwise_{activation_suffix}")(x)
        kernel_size, strides, dilation_rate, name = 1, 1, 1, f"{name}_pointwise"
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation_rate,
                            use_bias=use_bias, name=f"{name}_conv")(x)
    x = batch_normalization(x, f"{name}_bn", **bn)
    return activation_layer(activation, f"{name}_{activation_suffix}")(x) if activation else x
