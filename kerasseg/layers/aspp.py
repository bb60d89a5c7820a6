"""Atrous Spatial Pyramid Pooling (Chen, Papandreou, Schroff, Adam, "Rethinking Atrous Convolution for Semantic
Image Segmentation", arXiv 1706.05587, 2017; with separable convs as in DeepLabv3+, ECCV 2018).

Block functions that compose Keras layers (each of them serializable), shared by the models that use ASPP.
"""
import keras

from kerasseg.layers.normalization import BatchNormalization
from kerasseg.layers.resize import Resize

#: Atrous rates of the three 3x3 branches for each output stride (DeepLabv3 section 4.3).
ATROUS_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}

BN = dict(momentum=0.99, epsilon=1e-5)


def conv_bn_relu(x, filters, kernel_size, name, dilation_rate=1, separable=False):
    """Conv (no bias) -> BN -> ReLU; `separable`: depthwise (dilated) -> BN -> ReLU -> 1x1 -> BN -> ReLU, the
    DeepLabv3+ separable conv with batch norm and ReLU after both its parts.

    Args:
        x: input tensor.
        filters: output channels.
        kernel_size: spatial size of the (depthwise) kernel.
        name: prefix of the layer names.
        dilation_rate: atrous rate of the (depthwise) conv.
        separable: depthwise-separable instead of a full conv (only for kernel_size > 1).

    Returns:
        The output tensor.
    """
    if separable and kernel_size != 1:
        x = keras.layers.DepthwiseConv2D(kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False,
                                         name=f"{name}_depthwise")(x)
        x = BatchNormalization(**BN, name=f"{name}_depthwise_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_depthwise_relu")(x)
        kernel_size, dilation_rate, name = 1, 1, f"{name}_pointwise"
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False,
                            name=f"{name}_conv")(x)
    x = BatchNormalization(**BN, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def image_pooling(x, filters, name):
    """Image-level features: global average pool -> 1x1 conv -> BN -> ReLU -> bilinear back to x's size.

    The up-sampling takes its size from `x` at run time (`Resize` with a reference tensor), so the branch works
    at any input size in the SavedModel and becomes MEAN + RESIZE_BILINEAR in TFLite (Resize in ONNX).
    """
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = conv_bn_relu(pooled, filters, 1, name)
    return Resize(name=f"{name}_resize")([pooled, x])


def aspp(x, filters=256, atrous_rates=(6, 12, 18), separable=False, dropout_rate=0.1, image_pooling_branch=True,
         name="aspp"):
    """ASPP: 1x1 conv, one 3x3 atrous conv per rate, image pooling; concat -> 1x1 conv -> dropout.

    Every branch has `filters` channels with BN + ReLU.

    Args:
        x: encoder output.
        filters: channels of every branch and of the projection (256 in the papers).
        atrous_rates: rates of the 3x3 branches, `ATROUS_RATES[output_stride]` in the papers; an empty tuple
            leaves only the 1x1 and image-pooling branches (the reference MobileNetV2 models' light head).
        separable: atrous depthwise-separable convs (the paper's Xception setting).
        dropout_rate: dropout after the projection (0.1 in the reference).
        image_pooling_branch: include the image-level branch.
        name: prefix of the layer names.

    Returns:
        The projected tensor [B, h, w, filters].
    """
    if filters < 1:
        raise ValueError(f"filters must be >= 1, got {filters}.")
    atrous_rates = tuple(atrous_rates)
    if any(int(r) != r or r < 1 for r in atrous_rates):
        raise ValueError(f"atrous_rates must be positive integers, got {atrous_rates}.")
    branches = [conv_bn_relu(x, filters, 1, f"{name}_1x1")]
    for i, rate in enumerate(atrous_rates, start=1):
        branches.append(conv_bn_relu(x, filters, 3, f"{name}_atrous{i}", dilation_rate=int(rate),
                                     separable=separable))
    if image_pooling_branch:
        branches.append(image_pooling(x, filters, f"{name}_image_pool"))
    x = keras.layers.Concatenate(name=f"{name}_concat")(branches) if len(branches) > 1 else branches[0]
    x = conv_bn_relu(x, filters, 1, f"{name}_projection")
    return keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
