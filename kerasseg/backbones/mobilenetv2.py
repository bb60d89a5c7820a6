"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018), width 1.0, layer for layer as `keras.applications.MobileNetV2` so its ImageNet
weights load."""
import keras

from kerasseg.backbones._common import LayerFactory, StrideSchedule, check_inputs, load_weights
from kerasseg.layers import BatchNormalization, ImagePreprocess

#: (output channels, stride, expansion) of inverted-residual blocks 0..16 (Table 2 of the paper).
INVERTED_RESIDUAL_BLOCKS = (
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
)
#: Last block at each level stride.
LEVEL_BLOCKS = {4: 2, 8: 5, 16: 12}

# Keras applications use momentum 0.999, tuned for ImageNet's long schedule: after a segmentation run of a few
# hundred steps the moving statistics would still be mostly their initial values, and inference-mode output
# poor. 0.99, as Keras' ResNet and Xception, follows the data; the ImageNet weights and inference are unchanged.
_BN = dict(axis=-1, epsilon=1e-3, momentum=0.99)


def _correct_pad(x):
    """Keras' `imagenet_utils.correct_pad` for a 3x3 stride-2 conv: (0, 1) on even or unknown sizes, else (1, 1)."""
    pads = []
    for size in x.shape[1:3]:
        adjust = 1 if size is None else 1 - size % 2
        pads.append((1 - adjust, 1))
    return tuple(pads)


def _inverted_residual(layer, x, filters, stride, rate, expansion, block_id):
    in_channels = x.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    y = x
    if block_id:
        y = layer(keras.layers.Conv2D, f"{prefix}expand", expansion * in_channels, 1, padding="same",
                  use_bias=False)(y)
        y = layer(BatchNormalization, f"{prefix}expand_BN", **_BN)(y)
        y = layer(keras.layers.ReLU, f"{prefix}expand_relu", 6.0)(y)
    if stride == 2:
        y = layer(keras.layers.ZeroPadding2D, f"{prefix}pad", _correct_pad(y))(y)
    y = layer(keras.layers.DepthwiseConv2D, f"{prefix}depthwise", 3, strides=stride, use_bias=False,
              padding="same" if stride == 1 else "valid", dilation_rate=rate)(y)
    y = layer(BatchNormalization, f"{prefix}depthwise_BN", **_BN)(y)
    y = layer(keras.layers.ReLU, f"{prefix}depthwise_relu", 6.0)(y)
    y = layer(keras.layers.Conv2D, f"{prefix}project", filters, 1, padding="same", use_bias=False)(y)
    y = layer(BatchNormalization, f"{prefix}project_BN", **_BN)(y)
    if in_channels == filters and stride == 1:
        return layer(keras.layers.Add, f"{prefix}add")([x, y])
    return y


def mobilenetv2(inputs, output_stride=32, weights=None, name="mobilenetv2", final_conv=True):
    """MobileNetV2 (width multiplier 1.0) with "tf" preprocessing ([-1, 1]) inside.

    Features: 4 block 2 (24 channels), 8 block 5 (32), 16 block 12 (96), 32 the final 1x1 conv `out_relu`
    (1280), or with `final_conv=False` block 16's linear 320-channel output (what DeepLab's mobile models use).
    With `output_stride` 16 or 8 the strided depthwise convs keep stride 1 and later ones are dilated.

    Args:
        inputs: Keras tensor [B, H, W, 3], float RGB in [0, 255].
        output_stride: 8, 16 or 32.
        weights: None, "imagenet" or a local file (Keras `mobilenet_v2_..._1.0_224_no_top.h5`, or a kerasseg
            `.npz`). With `final_conv=False` the Keras file's `Conv_1` weights are checked but unused.
        name: layer-name prefix.
        final_conv: keep the 1x1 conv to 1280 channels.

    Returns:
        dict {4, 8, 16, 32: Keras tensor}.
    """
    check_inputs(name, inputs)
    layer = LayerFactory(name)
    schedule = StrideSchedule(output_stride)
    x = layer(ImagePreprocess, "preprocess", "tf")(inputs)
    x = layer(keras.layers.Conv2D, "Conv1", 32, 3, strides=schedule.step(2)[0], padding="same", use_bias=False)(x)
    x = layer(BatchNormalization, "bn_Conv1", **_BN)(x)
    x = layer(keras.layers.ReLU, "Conv1_relu", 6.0)(x)
    features = {}
    for block_id, (filters, stride, expansion) in enumerate(INVERTED_RESIDUAL_BLOCKS):
        stride, rate = schedule.step(stride)
        x = _inverted_residual(layer, x, filters, stride, rate, expansion, block_id)
        for level, last in LEVEL_BLOCKS.items():
            if block_id == last:
                features[level] = x
    if final_conv:
        x = layer(keras.layers.Conv2D, "Conv_1", 1280, 1, use_bias=False)(x)
        x = layer(BatchNormalization, "Conv_1_bn", **_BN)(x)
        x = layer(keras.layers.ReLU, "out_relu", 6.0)(x)
    features[32] = x
    if weights is not None and not final_conv and not str(weights).endswith(".npz"):
        # The Keras file has Conv_1 / Conv_1_bn: give them throw-away counterparts so the copy stays complete.
        _unused_final_conv(layer)
    load_weights(name, layer, weights, application=keras.applications.MobileNetV2)
    if not final_conv:
        for unused in ("Conv_1", "Conv_1_bn"):
            layer.layers.pop(unused, None)
    return features


def _unused_final_conv(layer):
    conv = keras.layers.Conv2D(1280, 1, use_bias=False, name=f"{layer.prefix}_Conv_1")
    conv.build((None, None, None, 320))
    bn = BatchNormalization(name=f"{layer.prefix}_Conv_1_bn", **_BN)
    bn.build((None, None, None, 1280))
    layer.layers["Conv_1"], layer.layers["Conv_1_bn"] = conv, bn
