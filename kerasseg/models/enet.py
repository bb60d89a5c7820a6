"""ENet (Paszke, Chaurasia, Kim, Culurciello, "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation", arXiv 1606.02147, 2016).

Layout (Table 1 of the paper), for an H x W input:

| stage | blocks | output |
|---|---|---|
| initial | 3x3/2 conv (13 filters) || 2x2 max-pool, concat | 16 x H/2 x W/2 |
| 1 | downsampling bottleneck 1.0, 4 regular bottlenecks | 64 x H/4 x W/4 |
| 2 | downsampling 2.0; regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8, asymmetric 5, dilated 16 | 128 x H/8 x W/8 |
| 3 | stage 2 without the downsampling block | 128 x H/8 x W/8 |
| 4 | upsampling bottleneck 4.0 (max-unpooling), 2 regular | 64 x H/4 x W/4 |
| 5 | upsampling bottleneck 5.0, 1 regular | 16 x H/2 x W/2 |
| full conv | 3x3/2 transposed conv | C x H x W |

As in the authors' Torch code: convolutions have no bias (batch normalisation follows), the encoder uses
per-channel PReLU (initialised to 0.25) and the decoder ReLU, spatial dropout is 0.01 up to bottleneck 2.0 and
0.1 after it. The model normalises its [0, 255] input with ImageNet mean and standard deviation.
"""
import functools

import keras

from kerasseg.layers import ChannelZeroPad, ImagePreprocess, MaxUnpooling2D, Resize
from kerasseg.layers.conv_bn_act import activation_layer, batch_normalization, conv_bn_act
from kerasseg.models._inputs import check_model_arguments
from kerasseg.registry import register_model
from kerasseg.segmentation_model import SegmentationModel

#: ENet's batch-normalisation momentum and epsilon (Keras convention), passed to every BN it creates.
_BN = dict(momentum=0.9, epsilon=1e-3)
#: conv -> BN -> activation as ENet names it ("{name}_act"); PReLU in the encoder, ReLU in the decoder.
_block = functools.partial(conv_bn_act, activation_suffix="act", bn_momentum=_BN["momentum"],
                           bn_epsilon=_BN["epsilon"])


def _act(relu):
    return "relu" if relu else "prelu"


def initial_block(x, name="initial"):
    """13-filter 3x3 stride-2 conv concatenated with a 2x2 max-pool of the input (16 channels out)."""
    conv = keras.layers.Conv2D(13, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    pool = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = keras.layers.Concatenate(name=f"{name}_concat")([conv, pool])
    x = batch_normalization(x, f"{name}_bn", **_BN)
    return activation_layer("prelu", f"{name}_act")(x)


def regular_bottleneck(x, name, dilation_rate=1, asymmetric_kernel=None, dropout_rate=0.1, relu=False):
    """1x1 projection -> 3x3 (dilated) or k x 1 then 1 x k conv -> 1x1 expansion, dropout, identity shortcut.

    Args:
        x: input tensor; its channels are kept.
        name: prefix of the block's layer names.
        dilation_rate: dilation of the 3x3 conv.
        asymmetric_kernel: k for the asymmetric k x 1 / 1 x k pair instead of the 3x3 conv.
        dropout_rate: spatial dropout rate.
        relu: ReLU (decoder) instead of PReLU (encoder).

    Returns:
        The block's output tensor.
    """
    channels = x.shape[-1]
    internal = channels // 4
    y = _block(x, internal, 1, f"{name}_reduce", activation=_act(relu))
    if asymmetric_kernel:
        y = _block(y, internal, (asymmetric_kernel, 1), f"{name}_asym_a", activation=_act(relu))
        y = _block(y, internal, (1, asymmetric_kernel), f"{name}_asym_b", activation=_act(relu))
    else:
        y = _block(y, internal, 3, f"{name}_conv", dilation_rate=dilation_rate, activation=_act(relu))
    y = _block(y, channels, 1, f"{name}_expand", activation=_act(relu))
    y = keras.layers.SpatialDropout2D(dropout_rate, name=f"{name}_dropout")(y)
    x = keras.layers.Add(name=f"{name}_add")([x, y])
    return activation_layer(_act(relu), f"{name}_out")(x)


def downsampling_bottleneck(x, filters, name, dropout_rate):
    """Halves the resolution: 2x2 stride-2 projection branch; max-pool + zero channel padding shortcut.

    Returns:
        (output, pooled_input): `pooled_input` is what the max-pool saw, for the matching max-unpooling.
    """
    internal = x.shape[-1] // 4
    y = _block(x, internal, 2, f"{name}_reduce", strides=2, activation="prelu")
    y = _block(y, internal, 3, f"{name}_conv", activation="prelu")
    y = _block(y, filters, 1, f"{name}_expand", activation="prelu")
    y = keras.layers.SpatialDropout2D(dropout_rate, name=f"{name}_dropout")(y)
    main = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    main = ChannelZeroPad(filters - x.shape[-1], name=f"{name}_pad")(main)
    out = keras.layers.Add(name=f"{name}_add")([main, y])
    return activation_layer("prelu", f"{name}_out")(out), x


def upsampling_bottleneck(x, filters, pooled_input, name, dropout_rate):
    """Doubles the resolution: 1x1 conv + max-unpooling shortcut; 2x2 stride-2 transposed-conv branch."""
    internal = x.shape[-1] // 4
    main = _block(x, filters, 1, f"{name}_main", activation=None)
    main = MaxUnpooling2D(2, name=f"{name}_unpool")([main, pooled_input])
    y = _block(x, internal, 1, f"{name}_reduce", activation="relu")
    y = keras.layers.Conv2DTranspose(internal, 2, strides=2, use_bias=False, name=f"{name}_tconv")(y)
    y = batch_normalization(y, f"{name}_tconv_bn", **_BN)
    y = activation_layer("relu", f"{name}_tconv_act")(y)
    y = _block(y, filters, 1, f"{name}_expand", activation=None)
    y = keras.layers.SpatialDropout2D(dropout_rate, name=f"{name}_dropout")(y)
    out = keras.layers.Add(name=f"{name}_add")([main, y])
    return keras.layers.ReLU(name=f"{name}_out")(out)


def _dilated_stage(x, stage, dropout_rate):
    """Stages 2 and 3: regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8, asymmetric 5, dilated 16."""
    for i, (dilation, asymmetric) in enumerate(
        [(1, None), (2, None), (1, 5), (4, None), (1, None), (8, None), (1, 5), (16, None)], start=1
    ):
        x = regular_bottleneck(x, f"bottleneck{stage}_{i}", dilation_rate=dilation, asymmetric_kernel=asymmetric,
                               dropout_rate=dropout_rate)
    return x


@register_model("enet", size_divisor=8, paper="Paszke et al., ENet, arXiv 1606.02147")
def ENet(num_classes, input_shape=(None, None, 3), dropout_rates=(0.01, 0.1), name="enet"):
    """Builds ENet.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); height and width must be multiples of 8 (None = any such size at
            run time).
        dropout_rates: spatial dropout rate of (stage 1, every later bottleneck); the paper's (0.01, 0.1).
            Dropout only acts in training: the network and its parameters are the same for any rates. A
            schedule of ~1000 steps learns faster without it ((0, 0) in `configs/enet_shapes_64x64.yaml`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    input_shape = check_model_arguments("ENet", num_classes, input_shape, 8)
    rates = tuple(dropout_rates) if isinstance(dropout_rates, (list, tuple)) else ()
    if len(rates) != 2 or not all(isinstance(r, (int, float)) and 0 <= r < 1 for r in rates):
        raise ValueError(f"ENet: dropout_rates must be two rates in [0, 1) (stage 1, later bottlenecks); "
                         f"got {dropout_rates!r}.")
    early, late = (float(r) for r in rates)

    inputs = keras.Input(input_shape, name="image")
    x = ImagePreprocess("torch", name="normalize")(inputs)
    x = initial_block(x)

    x, pooled1 = downsampling_bottleneck(x, 64, "bottleneck1_0", dropout_rate=early)
    for i in range(1, 5):
        x = regular_bottleneck(x, f"bottleneck1_{i}", dropout_rate=early)

    x, pooled2 = downsampling_bottleneck(x, 128, "bottleneck2_0", dropout_rate=late)
    x = _dilated_stage(x, 2, late)
    x = _dilated_stage(x, 3, late)

    x = upsampling_bottleneck(x, 64, pooled2, "bottleneck4_0", dropout_rate=late)
    for i in (1, 2):
        x = regular_bottleneck(x, f"bottleneck4_{i}", dropout_rate=late, relu=True)

    x = upsampling_bottleneck(x, 16, pooled1, "bottleneck5_0", dropout_rate=late)
    x = regular_bottleneck(x, "bottleneck5_1", dropout_rate=late, relu=True)

    logits = keras.layers.Conv2DTranspose(
        num_classes, 3, strides=2, padding="same", use_bias=False, name="fullconv"
    )(x)
    return SegmentationModel(inputs, logits, name=name)


@register_model("enet_encoder", size_divisor=8, paper="Paszke et al., ENet, arXiv 1606.02147 (encoder stage)")
def ENetEncoder(num_classes, input_shape=(None, None, 3), dropout_rates=(0.01, 0.1), name="enet_encoder"):
    """ENet's encoder (initial block and stages 1-3) with a 1x1 classifier: the first training stage.

    The authors trained ENet in two stages (e-lab/ENet-training, `models/encoder.lua` then `models/decoder.lua`):
    the encoder with a 1x1 convolution classifier on labels at 1/8 size, then the whole network starting from the
    trained encoder. Here the classifier's 1/8-size logits are resized bilinearly to the input size, so the
    model keeps kerasseg's convention (logits at input resolution) and trains on full-size labels. Its layers
    carry ENet's names, so `model.initial_weights` in a recipe (or `transfer_weights`) starts the full ENet from
    it.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); height and width must be multiples of 8 (None = any such size).
        dropout_rates: as for `ENet`.
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    full = ENet(num_classes, input_shape=input_shape, dropout_rates=dropout_rates, name=name)
    features = full.get_layer("bottleneck3_8_out").output
    logits = keras.layers.Conv2D(num_classes, 1, name="encoder_classifier")(features)
    logits = Resize(name="encoder_resize")([logits, full.input])
    return keras.Model(full.input, logits, name=name)
