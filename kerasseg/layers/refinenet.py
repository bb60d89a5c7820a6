"""RefineNet building blocks: residual conv unit, multi-resolution fusion, chained residual pooling.

References:
    Lin, Milan, Shen, Reid, "RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic
    Segmentation", CVPR 2017, arXiv 1611.06612 (Fig. 3).
    Nekrasov, Shen, Reid, "Light-Weight RefineNet for Real-Time Semantic Segmentation", BMVC 2018,
    arXiv 1810.03272 (chained residual pooling with 1x1 convs).

Every block is a composition of standard Keras layers (Conv2D, ReLU, MaxPooling2D, Add, `Resize`), so it
saves to `.keras` and converts to builtin TFLite ops and ONNX without custom code. As in the authors' released
networks there is no batch normalisation in the decoder.
"""
import keras

from kerasseg.layers.conv_bn_act import activation_layer
from kerasseg.layers.resize import Resize


def residual_conv_unit(x, name, filters=None, activation="relu"):
    """Residual conv unit (RCU): ReLU -> 3x3 conv (bias) -> ReLU -> 3x3 conv (no bias), plus the identity.

    Args:
        x: input [B, H, W, C].
        name: prefix of the unit's layer names.
        filters: channels of the convs; must equal C (the shortcut is the identity). None for C.
        activation: "relu" or "relu6".

    Returns:
        [B, H, W, C].
    """
    channels = x.shape[-1]
    filters = channels if filters is None else filters
    if filters != channels:
        raise ValueError(f"{name}: a residual conv unit keeps its width: filters={filters}, input has {channels}.")
    y = activation_layer(activation, f"{name}_relu1")(x)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=True, name=f"{name}_conv1")(y)
    y = activation_layer(activation, f"{name}_relu2")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def residual_conv_units(x, count, name, activation="relu"):
    """`count` residual conv units in a row, named `{name}_1` ... `{name}_{count}`."""
    for i in range(1, count + 1):
        x = residual_conv_unit(x, f"{name}_{i}", activation=activation)
    return x


def multi_resolution_fusion(inputs, name, filters=None, kernel_size=3):
    """Multi-resolution fusion: a conv per path to a common width, bilinear up-sampling to the largest, sum.

    Args:
        inputs: list of feature maps, largest (finest) spatial size first. A single input is returned as it
            is (RefineNet-4 has nothing to fuse).
        name: prefix of the block's layer names.
        filters: common output width; None for the smallest input width.
        kernel_size: 3 (RefineNet) or 1 (Light-Weight RefineNet).

    Returns:
        [B, H, W, filters] at the size of `inputs[0]`.
    """
    inputs = list(inputs)
    if not inputs:
        raise ValueError(f"{name}: multi_resolution_fusion needs at least one input.")
    if len(inputs) == 1:
        return inputs[0]
    if filters is None:
        filters = min(t.shape[-1] for t in inputs)
    paths = []
    for i, t in enumerate(inputs):
        y = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv{i + 1}")(t)
        if i > 0:
            y = Resize(name=f"{name}_up{i + 1}")([y, inputs[0]])
        paths.append(y)
    return keras.layers.Add(name=f"{name}_sum")(paths)


def chained_residual_pooling(x, name, stages=4, kernel_size=3, pool_size=5, activation="relu"):
    """Chained residual pooling (CRP): ReLU, then a chain of (5x5 max-pool stride 1 -> conv) blocks.

    The blocks are *chained*: each one pools the previous block's output (not the block input), and every
    block's output is summed onto the ReLU'd input:

        x = relu(x); top = x
        for each stage: top = conv(maxpool(top)); x = x + top

    Args:
        x: input [B, H, W, C].
        name: prefix of the block's layer names.
        stages: number of pool-conv blocks (4 in the released RefineNet and Light-Weight RefineNet networks).
        kernel_size: 3 (RefineNet) or 1 (Light-Weight RefineNet); convs keep the width and have no bias.
        pool_size: max-pool window (stride 1, same padding).
        activation: "relu" or "relu6" for the leading activation.

    Returns:
        [B, H, W, C].
    """
    if stages < 1:
        raise ValueError(f"{name}: stages must be >= 1, got {stages}.")
    filters = x.shape[-1]
    x = activation_layer(activation, f"{name}_relu")(x)
    top = x
    for i in range(1, stages + 1):
        top = keras.layers.MaxPooling2D(pool_size, strides=1, padding="same", name=f"{name}_pool{i}")(top)
        top = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv{i}")(top)
        x = keras.layers.Add(name=f"{name}_sum{i}")([x, top])
    return x
