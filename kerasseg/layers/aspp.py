"""Atrous Spatial Pyramid Pooling (Chen, Papandreou, Schroff, Adam, "Rethinking Atrous Convolution for Semantic
Image Segmentation", arXiv 1706.05587, 2017; with separable convs as in DeepLabv3+, ECCV 2018).

Block functions that compose Keras layers (each of them serializable), shared by the models that use ASPP.
"""
import keras

from kerasseg.layers.conv_bn_act import conv_bn_act
from kerasseg.layers.resize import Resize

#: Atrous rates of the three 3x3 branches for each output stride (DeepLabv3 section 4.3).
ATROUS_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}

#: Batch-normalisation settings of ASPP and the DeepLabv3+ decoder (`conv_bn_act` arguments).
BN = dict(bn_momentum=0.99, bn_epsilon=1e-5)


def image_pooling(x, filters, name):
    """Image-level features: global average pool -> 1x1 conv -> BN -> ReLU -> bilinear back to x's size.

    The up-sampling takes its size from `x` at run time (`Resize` with a reference tensor), so the branch works
    at any input size in the SavedModel and becomes MEAN + RESIZE_BILINEAR in TFLite (Resize in ONNX).
    """
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = conv_bn_act(pooled, filters, 1, name, **BN)
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
    branches = [conv_bn_act(x, filters, 1, f"{name}_1x1", **BN)]
    for i, rate in enumerate(atrous_rates, start=1):
        branches.append(conv_bn_act(x, filters, 3, f"{name}_atrous{i}", dilation_rate=int(rate),
                                    separable=separable, **BN))
    if image_pooling_branch:
        branches.append(image_pooling(x, filters, f"{name}_image_pool"))
    x = keras.layers.Concatenate(name=f"{name}_concat")(branches) if len(branches) > 1 else branches[0]
    x = conv_bn_act(x, filters, 1, f"{name}_projection", **BN)
    return keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
