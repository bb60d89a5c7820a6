"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer, Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015; the VGG16 nets of the authors' Caffe reference, github.com/shelhamer/fcn.berkeleyvision.org).

Layout, as the reference `voc-fcn{32,16,8}s` / `voc-fcn8s-atonce` nets:

- VGG16 conv layers with `conv1_1` zero-padded by 100 and ceil-mode pooling, so that fc6 fits any input and
  the crop offsets below hold for every input size;
- fc6 as a 7x7 "valid" conv and fc7 as a 1x1 conv, `fc_units` (4096) channels, ReLU and dropout 0.5 each;
- `score_fr`: 1x1 conv to the classes (zero-initialised, as in the paper);
- FCN-32s: 64x64 stride-32 transposed conv (`upscore`), crop at offset 19 to the input;
- FCN-16s: `upscore2` (4x4, stride 2) + `score_pool4` cropped at 5, then 32x32 stride-16 `upscore16`, crop 27;
- FCN-8s: as 16s, then `upscore_pool4` (4x4, stride 2) + `score_pool3` cropped at 9, 16x16 stride-8
  `upscore8`, crop 31. The "at-once" net (default) scales pool4 by 0.01 and pool3 by 0.0001 before scoring.

Every transposed conv is initialised to bilinear interpolation and, as in the reference (lr_mult 0), frozen:
its weights are non-trainable. Parameter counts for 21 classes and `fc_units=4096`, trainable = the reference
Caffe nets' learnable parameters (the frozen bilinear kernels are the full C x C x k x k Caffe blobs, counted as
non-trainable):

| net | trainable | non-trainable (frozen bilinear kernels) |
|---|---|---|
| FCN-32s | 134,346,581 | 1,806,336 (64x64) |
| FCN-16s | 134,357,354 | 458,640 (4x4 + 32x32) |
| FCN-8s | 134,362,751 | 127,008 (4x4 + 4x4 + 16x16) |

`fc_units` narrows fc6/fc7 (the only layers not fixed by VGG16): the paper's nets use 4096, a small value gives
the same graph at a fraction of the weights (used by the export tests).
"""
import keras
import numpy as np

from kerasseg.backbones import build_backbone
from kerasseg.backbones._common import keras_application_model
from kerasseg.layers import BilinearUpsamplingKernel, CropToReference
from kerasseg.models._inputs import check_model_arguments
from kerasseg.registry import register_model
from kerasseg.segmentation_model import SegmentationModel

PAPER = "Long, Shelhamer, Darrell, Fully Convolutional Networks for Semantic Segmentation, CVPR 2015"
#: Crop offsets of the reference nets (they follow from conv1_1's padding of 100 and the layer geometry).
CROP_OFFSETS = {"fcn32s": {"score": 19}, "fcn16s": {"pool4": 5, "score": 27},
                "fcn8s": {"pool4": 5, "pool3": 9, "score": 31}}


def _upsample(x, num_classes, factor, name, trainable):
    """Stride-`factor` transposed conv with a 2*factor kernel, no bias, bilinear-initialised."""
    return keras.layers.Conv2DTranspose(
        num_classes, 2 * factor, strides=factor, padding="valid", use_bias=False,
        kernel_initializer=BilinearUpsamplingKernel(), trainable=trainable, name=name,
    )(x)


def _score(x, num_classes, name):
    return keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=name)(x)


def _check(num_classes, input_shape, fc_units, dropout_rate):
    input_shape = check_model_arguments("FCN", num_classes, input_shape, 1)
    if fc_units < 1:
        raise ValueError(f"fc_units must be >= 1, got {fc_units}.")
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}.")
    return input_shape


def _fcn(variant, num_classes, input_shape, fc_units, dropout_rate, weights, learnable_upsampling, at_once, name):
    input_shape = _check(num_classes, input_shape, fc_units, dropout_rate)
    offsets = CROP_OFFSETS[variant]
    inputs = keras.Input(input_shape, name="image")
    features = build_backbone("vgg16", inputs, output_stride=32, first_conv_padding=100, ceil_mode_pooling=True)
    x = features[32]
    x = keras.layers.Conv2D(fc_units, 7, padding="valid", activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(dropout_rate, name="drop6")(x)
    x = keras.layers.Conv2D(fc_units, 1, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout_rate, name="drop7")(x)
    score = _score(x, num_classes, "score_fr")

    if variant == "fcn32s":
        upscore = _upsample(score, num_classes, 32, "upscore", learnable_upsampling)
    else:
        upscore = _upsample(score, num_classes, 2, "upscore2", learnable_upsampling)
        pool4 = keras.layers.Rescaling(0.01, name="scale_pool4")(features[16]) if at_once else features[16]
        score_pool4 = _score(pool4, num_classes, "score_pool4")
        score_pool4 = CropToReference(offsets["pool4"], name="score_pool4c")([score_pool4, upscore])
        fuse = keras.layers.Add(name="fuse_pool4")([upscore, score_pool4])
        if variant == "fcn16s":
            upscore = _upsample(fuse, num_classes, 16, "upscore16", learnable_upsampling)
        else:
            upscore = _upsample(fuse, num_classes, 2, "upscore_pool4", learnable_upsampling)
            pool3 = keras.layers.Rescaling(1e-4, name="scale_pool3")(features[8]) if at_once else features[8]
            score_pool3 = _score(pool3, num_classes, "score_pool3")
            score_pool3 = CropToReference(offsets["pool3"], name="score_pool3c")([score_pool3, upscore])
            fuse = keras.layers.Add(name="fuse_pool3")([upscore, score_pool3])
            upscore = _upsample(fuse, num_classes, 8, "upscore8", learnable_upsampling)
    logits = CropToReference(offsets["score"], name="score")([upscore, inputs])
    model = SegmentationModel(inputs, logits, name=name)
    if weights is not None:
        load_vgg16_imagenet(model, weights)
    return model


def load_vgg16_imagenet(model, weights="imagenet"):
    """Initialises an FCN as the paper does: VGG16 conv layers and the classifier's fc1/fc2 "convolutionalized"
    into fc6 (7x7) and fc7 (1x1); VGG's 1000-class layer is dropped (score layers stay zero).

    Args:
        model: an FCN built with `fc_units=4096`.
        weights: "imagenet" (Keras' VGG16 with top, from its cache or downloaded; a clear error offline) or
            the path of that file (`vgg16_weights_tf_dim_ordering_tf_kernels.h5`).
    """
    fc6, fc7 = model.get_layer("fc6"), model.get_layer("fc7")
    if fc6.filters != 4096:
        raise ValueError(f"ImageNet VGG16 weights need fc_units=4096 (fc6/fc7 come from VGG's fc1/fc2), got "
                         f"{fc6.filters}.")
    source = keras_application_model("vgg16", keras.applications.VGG16, weights, include_top=True)
    for layer in source.layers:
        values = layer.get_weights()
        if not values or layer.name == "predictions":
            continue
        if layer.name == "fc1":
            fc6.set_weights([values[0].reshape(7, 7, 512, 4096), values[1]])
        elif layer.name == "fc2":
            fc7.set_weights([values[0].reshape(1, 1, 4096, 4096), values[1]])
        else:
            model.get_layer(f"vgg16_{layer.name}").set_weights(values)


_ARGS_DOC = """
    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); any height and width (None = known at run time).
        fc_units: channels of fc6 and fc7 (4096 in the paper; ImageNet weights need 4096).
        dropout_rate: dropout after fc6 and fc7.
        weights: None (random VGG16), "imagenet" (the paper's initialisation from Keras' ImageNet VGG16, fc1/fc2
            reshaped into fc6/fc7) or the path of Keras' full VGG16 weights file.
        learnable_upsampling: make the bilinear transposed convs trainable (the reference keeps them fixed).
        name: the model's name.
"""


@register_model("fcn32s", size_divisor=1, paper=PAPER, backbone="vgg16")
def FCN32s(num_classes, input_shape=(None, None, 3), fc_units=4096, dropout_rate=0.5, weights=None,
           learnable_upsampling=False, name="fcn32s"):
    return _fcn("fcn32s", num_classes, input_shape, fc_units, dropout_rate, weights, learnable_upsampling,
                False, name)


@register_model("fcn16s", size_divisor=1, paper=PAPER, backbone="vgg16")
def FCN16s(num_classes, input_shape=(None, None, 3), fc_units=4096, dropout_rate=0.5, weights=None,
           learnable_upsampling=False, name="fcn16s"):
    return _fcn("fcn16s", num_classes, input_shape, fc_units, dropout_rate, weights, learnable_upsampling,
                False, name)


@register_model("fcn8s", size_divisor=1, paper=PAPER, backbone="vgg16")
def FCN8s(num_classes, input_shape=(None, None, 3), fc_units=4096, dropout_rate=0.5, weights=None,
          learnable_upsampling=False, at_once=True, name="fcn8s"):
    return _fcn("fcn8s", num_classes, input_shape, fc_units, dropout_rate, weights, learnable_upsampling,
                at_once, name)


FCN32s.__doc__ = f"""Builds FCN-32s: VGG16, fc6/fc7, one 32x bilinear up-sampling of the scores.
{_ARGS_DOC}
    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
"""
FCN16s.__doc__ = f"""Builds FCN-16s: FCN-32s plus a skip from pool4 (2x up-sampled scores + pool4 scores, then 16x).
{_ARGS_DOC}
    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
"""
FCN8s.__doc__ = f"""Builds FCN-8s: FCN-16s plus a skip from pool3, then 8x up-sampling.
{_ARGS_DOC}        at_once: scale pool4 by 0.01 and pool3 by 0.0001 before their score layers, as the reference
            "at-once" FCN-8s (trained in one stage, as `kerasseg train` does); False for the staged net.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
"""
