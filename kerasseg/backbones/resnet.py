"""ResNets (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016).

- ResNet-50/101/152: layer for layer as `keras.applications.ResNet50/101/152` (bottleneck blocks, stride on
  the first 1x1 conv, conv biases, BN epsilon 1.001e-5, Caffe BGR preprocessing), so the Keras ImageNet
  weights load.
- ResNet-18/34: basic blocks (two 3x3 convs) without conv biases and symmetric padding on strided convs, as
  torchvision's; torchvision ImageNet normalisation ("torch" mode). Not in keras.applications: weights come from
  a kerasseg `.npz` file (`save_backbone_weights`).
- ResNet-18 deep stem ("resnet18_deep"): the 7x7 stem replaced by three 3x3 convs of 64 (stride 2), 64 and 128
  channels, as the PSPNet-style ResNets that SFNet (Li et al., ECCV 2020) builds on; the first stage then
  starts with a 1x1 projection from 128 to 64 channels.

Features: the last output of each stage, stride 4 (conv2), 8 (conv3), 16 (conv4), 32 (conv5).
"""
import keras

from kerasseg.backbones._common import LayerFactory, StrideSchedule, check_inputs, load_weights
from kerasseg.layers import ImagePreprocess

BOTTLENECK_DEPTHS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}
BASIC_DEPTHS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet18_deep": (2, 2, 2, 2)}
KERAS_APPLICATIONS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}
STAGE_FILTERS = (64, 128, 256, 512)

_KERAS_BN = dict(axis=-1, epsilon=1.001e-5)
_TORCH_BN = dict(axis=-1, epsilon=1e-5, momentum=0.9)


def _bottleneck_block(layer, x, filters, stride, rate, block_name, conv_shortcut):
    """Keras' ResNet v1 block: 1x1 (strided) -> 3x3 (dilated) -> 1x1 x4, projection or identity shortcut."""
    if conv_shortcut:
        shortcut = layer(keras.layers.Conv2D, f"{block_name}_0_conv", 4 * filters, 1, strides=stride)(x)
        shortcut = layer(keras.layers.BatchNormalization, f"{block_name}_0_bn", **_KERAS_BN)(shortcut)
    else:
        shortcut = x
    x = layer(keras.layers.Conv2D, f"{block_name}_1_conv", filters, 1, strides=stride)(x)
    x = layer(keras.layers.BatchNormalization, f"{block_name}_1_bn", **_KERAS_BN)(x)
    x = layer(keras.layers.Activation, f"{block_name}_1_relu", "relu")(x)
    x = layer(keras.layers.Conv2D, f"{block_name}_2_conv", filters, 3, padding="same", dilation_rate=rate)(x)
    x = layer(keras.layers.BatchNormalization, f"{block_name}_2_bn", **_KERAS_BN)(x)
    x = layer(keras.layers.Activation, f"{block_name}_2_relu", "relu")(x)
    x = layer(keras.layers.Conv2D, f"{block_name}_3_conv", 4 * filters, 1)(x)
    x = layer(keras.layers.BatchNormalization, f"{block_name}_3_bn", **_KERAS_BN)(x)
    x = layer(keras.layers.Add, f"{block_name}_add")([shortcut, x])
    return layer(keras.layers.Activation, f"{block_name}_out", "relu")(x)


def resnet_bottleneck(inputs, depth_name, output_stride=32, weights=None, name=None):
    """ResNet-50/101/152 as `keras.applications` builds them; see the module docstring.

    Args:
        inputs: Keras tensor [B, H, W, 3], float RGB in [0, 255].
        depth_name: "resnet50", "resnet101" or "resnet152".
        output_stride: 8, 16 or 32 (later stages dilated instead of strided).
        weights: None, "imagenet" or a local file (Keras `*_notop.h5`, or a kerasseg `.npz`).
        name: layer-name prefix (default `depth_name`).

    Returns:
        dict {4: conv2 (256 channels), 8: conv3 (512), 16: conv4 (1024), 32: conv5 (2048)}.
    """
    name = name or depth_name
    check_inputs(name, inputs)
    layer = LayerFactory(name)
    schedule = StrideSchedule(output_stride)
    x = layer(ImagePreprocess, "preprocess", "caffe")(inputs)
    x = layer(keras.layers.ZeroPadding2D, "conv1_pad", 3)(x)
    x = layer(keras.layers.Conv2D, "conv1_conv", 64, 7, strides=schedule.step(2)[0])(x)
    x = layer(keras.layers.BatchNormalization, "conv1_bn", **_KERAS_BN)(x)
    x = layer(keras.layers.Activation, "conv1_relu", "relu")(x)
    x = layer(keras.layers.ZeroPadding2D, "pool1_pad", 1)(x)
    x = layer(keras.layers.MaxPooling2D, "pool1_pool", 3, strides=schedule.step(2)[0])(x)

    features = {}
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, BOTTLENECK_DEPTHS[depth_name])):
        stride, rate = schedule.step(1 if stage == 0 else 2)
        for block in range(1, blocks + 1):
            x = _bottleneck_block(layer, x, filters, stride if block == 1 else 1,
                                  rate if block == 1 else schedule.rate, f"conv{stage + 2}_block{block}",
                                  conv_shortcut=block == 1)
        features[4 * 2 ** stage] = x
    application = getattr(keras.applications, KERAS_APPLICATIONS[depth_name])
    load_weights(name, layer, weights, application=application)
    return features


def _strided_conv(layer, x, filters, kernel_size, stride, rate, conv_name):
    """Conv with torchvision's symmetric padding when strided, "same" padding otherwise."""
    if stride > 1:
        x = layer(keras.layers.ZeroPadding2D, f"{conv_name}_pad", kernel_size // 2)(x)
        return layer(keras.layers.Conv2D, conv_name, filters, kernel_size, strides=stride, use_bias=False)(x)
    return layer(keras.layers.Conv2D, conv_name, filters, kernel_size, padding="same", dilation_rate=rate,
                 use_bias=False)(x)


def _basic_block(layer, x, filters, stride, rate, block_name):
    """torchvision's BasicBlock: 3x3 (strided) -> 3x3, projection shortcut when the shape changes."""
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layer(keras.layers.Conv2D, f"{block_name}_0_conv", filters, 1, strides=stride,
                         use_bias=False)(x)
        shortcut = layer(keras.layers.BatchNormalization, f"{block_name}_0_bn", **_TORCH_BN)(shortcut)
    else:
        shortcut = x
    y = _strided_conv(layer, x, filters, 3, stride, rate, f"{block_name}_1_conv")
    y = layer(keras.layers.BatchNormalization, f"{block_name}_1_bn", **_TORCH_BN)(y)
    y = layer(keras.layers.Activation, f"{block_name}_1_relu", "relu")(y)
    y = layer(keras.layers.Conv2D, f"{block_name}_2_conv", filters, 3, padding="same", dilation_rate=rate,
              use_bias=False)(y)
    y = layer(keras.layers.BatchNormalization, f"{block_name}_2_bn", **_TORCH_BN)(y)
    x = layer(keras.layers.Add, f"{block_name}_add")([shortcut, y])
    return layer(keras.layers.Activation, f"{block_name}_out", "relu")(x)


def resnet_basic(inputs, depth_name, output_stride=32, weights=None, name=None):
    """ResNet-18/34 (and ResNet-18 with the deep stem); see the module docstring.

    Args:
        inputs: Keras tensor [B, H, W, 3], float RGB in [0, 255].
        depth_name: "resnet18", "resnet34" or "resnet18_deep".
        output_stride: 8, 16 or 32 (later stages dilated instead of strided).
        weights: None or a kerasseg `.npz` file ("imagenet" is refused with an explanation: Keras has no
            ResNet-18/34).
        name: layer-name prefix (default `depth_name`).

    Returns:
        dict {4: stage 1 (64 channels), 8: stage 2 (128), 16: stage 3 (256), 32: stage 4 (512)}.
    """
    name = name or depth_name
    check_inputs(name, inputs)
    layer = LayerFactory(name)
    schedule = StrideSchedule(output_stride)
    x = layer(ImagePreprocess, "preprocess", "torch")(inputs)
    if depth_name == "resnet18_deep":
        for i, (filters, stride) in enumerate(((64, 2), (64, 1), (128, 1)), start=1):
            x = _strided_conv(layer, x, filters, 3, schedule.step(stride)[0], 1, f"conv1_{i}_conv")
            x = layer(keras.layers.BatchNormalization, f"conv1_{i}_bn", **_TORCH_BN)(x)
            x = layer(keras.layers.Activation, f"conv1_{i}_relu", "relu")(x)
    else:
        x = _strided_conv(layer, x, 64, 7, schedule.step(2)[0], 1, "conv1_conv")
        x = layer(keras.layers.BatchNormalization, "conv1_bn", **_TORCH_BN)(x)
        x = layer(keras.layers.Activation, "conv1_relu", "relu")(x)
    # Zero padding before the max-pool equals torchvision's -inf padding: the input is post-ReLU (>= 0).
    x = layer(keras.layers.ZeroPadding2D, "pool1_pad", 1)(x)
    x = layer(keras.layers.MaxPooling2D, "pool1_pool", 3, strides=schedule.step(2)[0])(x)

    features = {}
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, BASIC_DEPTHS[depth_name])):
        stride, rate = schedule.step(1 if stage == 0 else 2)
        for block in range(1, blocks + 1):
            x = _basic_block(layer, x, filters, stride if block == 1 else 1, rate if block == 1 else schedule.rate,
                             f"conv{stage + 2}_block{block}")
        features[4 * 2 ** stage] = x
    load_weights(name, layer, weights, application=None)
    return features
