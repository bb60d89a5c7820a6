"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017), layer for
layer as `keras.applications.Xception` so its ImageNet weights load."""
import keras

from kerasseg.backbones._common import LayerFactory, StrideSchedule, check_inputs, load_weights
from kerasseg.layers import ImagePreprocess


def _sepconv_bn(layer, x, filters, rate, conv_name, relu_before=None, relu_after=None):
    if relu_before:
        x = layer(keras.layers.Activation, relu_before, "relu")(x)
    x = layer(keras.layers.SeparableConv2D, conv_name, filters, 3, padding="same", dilation_rate=rate,
              use_bias=False)(x)
    x = layer(keras.layers.BatchNormalization, f"{conv_name}_bn", axis=-1)(x)
    if relu_after:
        x = layer(keras.layers.Activation, relu_after, "relu")(x)
    return x


def xception(inputs, output_stride=32, weights=None, name="xception", block1_padding="same"):
    """Xception: entry flow (blocks 1-4), middle flow (blocks 5-12), exit flow (blocks 13-14).

    Features are the last tensor at each resolution, before the block's pool (the stride-4 one is what
    DeepLabv3+ decodes from): 4 `block3_sepconv2_bn` (256 channels), 8 `block4_sepconv2_bn` (728), 16
    `block13_sepconv2_bn` (1024), 32 `block14_sepconv2_act` (2048). With `output_stride` 16 or 8 the strided
    pools and residual 1x1 convs keep stride 1 and the separable convs after them are dilated.

    Args:
        inputs: Keras tensor [B, H, W, 3], float RGB in [0, 255] ("tf" preprocessing to [-1, 1] inside).
        output_stride: 8, 16 or 32.
        weights: None, "imagenet" or a local file (Keras `xception_..._notop.h5`, or a kerasseg `.npz`).
        name: layer-name prefix.
        block1_padding: padding of the two entry convs. "same" (default) makes level k exactly ceil(H / k);
            "valid" is Keras' own (each 3x3 conv trims a border: 64 -> 31 -> 29). Weights are the same.

    Returns:
        dict {4, 8, 16, 32: Keras tensor}.
    """
    check_inputs(name, inputs)
    if block1_padding not in ("same", "valid"):
        raise ValueError(f"block1_padding must be 'same' or 'valid', got {block1_padding!r}.")
    layer = LayerFactory(name)
    schedule = StrideSchedule(output_stride)
    residual_names = []

    def residual_conv(x, filters, stride, block):
        names = (f"block{block}_residual_conv", f"block{block}_residual_bn")
        residual_names.extend(names)
        r = layer(keras.layers.Conv2D, names[0], filters, 1, strides=stride, padding="same", use_bias=False)(x)
        return layer(keras.layers.BatchNormalization, names[1], axis=-1)(r)

    x = layer(ImagePreprocess, "preprocess", "tf")(inputs)
    x = layer(keras.layers.Conv2D, "block1_conv1", 32, 3, strides=schedule.step(2)[0], padding=block1_padding,
              use_bias=False)(x)
    x = layer(keras.layers.BatchNormalization, "block1_conv1_bn", axis=-1)(x)
    x = layer(keras.layers.Activation, "block1_conv1_act", "relu")(x)
    x = layer(keras.layers.Conv2D, "block1_conv2", 64, 3, padding=block1_padding, use_bias=False)(x)
    x = layer(keras.layers.BatchNormalization, "block1_conv2_bn", axis=-1)(x)
    x = layer(keras.layers.Activation, "block1_conv2_act", "relu")(x)

    features = {}
    # Entry-flow blocks 2-4 and exit block 13: two separable convs, strided 3x3 max-pool, strided 1x1 residual.
    for block, (filters_1, filters_2) in ((2, (128, 128)), (3, (256, 256)), (4, (728, 728))):
        rate = schedule.rate
        stride, _ = schedule.step(2)
        residual = residual_conv(x, filters_2, stride, block)
        x = _sepconv_bn(layer, x, filters_1, rate, f"block{block}_sepconv1",
                        relu_before=None if block == 2 else f"block{block}_sepconv1_act")
        x = _sepconv_bn(layer, x, filters_2, rate, f"block{block}_sepconv2", relu_before=f"block{block}_sepconv2_act")
        if block in (3, 4):
            features[2 ** (block - 1)] = x
        x = layer(keras.layers.MaxPooling2D, f"block{block}_pool", 3, strides=stride, padding="same")(x)
        x = layer(keras.layers.Add, f"block{block}_add")([x, residual])

    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = _sepconv_bn(layer, x, 728, schedule.rate, f"block{block}_sepconv{i}",
                            relu_before=f"block{block}_sepconv{i}_act")
        x = layer(keras.layers.Add, f"block{block}_add")([x, residual])

    rate = schedule.rate
    stride, _ = schedule.step(2)
    residual = residual_conv(x, 1024, stride, 13)
    x = _sepconv_bn(layer, x, 728, rate, "block13_sepconv1", relu_before="block13_sepconv1_act")
    x = _sepconv_bn(layer, x, 1024, rate, "block13_sepconv2", relu_before="block13_sepconv2_act")
    features[16] = x
    x = layer(keras.layers.MaxPooling2D, "block13_pool", 3, strides=stride, padding="same")(x)
    x = layer(keras.layers.Add, "block13_add")([x, residual])

    x = _sepconv_bn(layer, x, 1536, schedule.rate, "block14_sepconv1", relu_after="block14_sepconv1_act")
    x = _sepconv_bn(layer, x, 2048, schedule.rate, "block14_sepconv2", relu_after="block14_sepconv2_act")
    features[32] = x
    load_weights(name, layer, weights, application=keras.applications.Xception, unnamed_targets=residual_names)
    return features
