"""RefineNet (Lin, Milan, Shen, Reid, "RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic
Segmentation", CVPR 2017, arXiv 1611.06612) and Light-Weight RefineNet (Nekrasov, Shen, Reid, "Light-Weight
RefineNet for Real-Time Semantic Segmentation", BMVC 2018, arXiv 1810.03272).

4-cascaded RefineNet on a ResNet, for an H x W input (Fig. 2(c) and 3 of the paper, widths of the authors'
released networks):

| block | inputs | per input path | fusion | then | output |
|---|---|---|---|---|---|
| RefineNet-4 | C5 (H/32) | 3x3 adaptation conv to 512, 2 RCUs | - | CRP, 3 RCUs | 512 x H/32 |
| RefineNet-3 | C4, RefineNet-4 | C4: 3x3 conv to 256, 2 RCUs | 3x3 convs to 256, up-sample, sum | CRP, 3 RCUs | 256 x H/16 |
| RefineNet-2 | C3, RefineNet-3 | as above | as above | CRP, 3 RCUs | 256 x H/8 |
| RefineNet-1 | C2, RefineNet-2 | as above | as above | CRP, 3 RCUs | 256 x H/4 |
| classifier | dropout 0.5, 3x3 conv (bias) to the classes, bilinear up-sampling to H x W | | | | |

RCU: ReLU-conv-ReLU-conv plus identity, no BN. CRP: ReLU, then four chained 5x5 max-pool (stride 1) + 3x3 conv
blocks, each pooling the previous block's output, all summed onto the input. Dropout 0.5 on C5 and C4 during
training. The released networks end *every* block with 3 RCUs (the parameter counts quoted for RefineNet refer
to them: 118.1M for ResNet-101 and 21 classes); the paper's text describes one output RCU per block, with two
extra RCUs before the classifier (`output_rcus=1`).

Light-Weight RefineNet replaces every 3x3 conv of the decoder by a 1x1 conv and drops the RCUs: adaptation 1x1
convs, 1x1 fusion convs, CRP with 1x1 convs; the classifier stays a 3x3 conv. On MobileNetV2 (RF-LW-MobileNetV2)
the decoder taps six encoder outputs (24, 32, 64, 96, 160 and 320 channels) and sums the two taps of stride 16
and 32 before their CRP, with ReLU6, as in the authors' network.
"""
import keras

from kerasseg.backbones import build_backbone
from kerasseg.layers import (Resize, chained_residual_pooling, multi_resolution_fusion, residual_conv_units,
                             segmentation_head)
from kerasseg.errors import check_name
from kerasseg.models._inputs import check_model_arguments
from kerasseg.registry import register_model
from kerasseg.segmentation_model import SegmentationModel

BACKBONES = ("resnet50", "resnet101", "resnet152")
LIGHT_WEIGHT_BACKBONES = ("resnet50", "resnet101", "resnet152", "mobilenetv2")
#: Adaptation width of the RefineNet block fed by each encoder stride.
WIDTHS = {32: 512, 16: 256, 8: 256, 4: 256}


def _conv(x, filters, kernel_size, name, use_bias=False):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias, name=name)(x)


def _dropout(x, rate, name):
    return keras.layers.Dropout(rate, name=name)(x) if rate else x


def _model(image, x, num_classes, name, dropout_rate=0.0):
    """The shared head (3x3 classifier, as the authors' networks) on the decoder output `x`; the model."""
    logits = segmentation_head(x, num_classes, image, kernel_size=3, dropout_rate=dropout_rate)
    return SegmentationModel(image, logits, name=name)


def _resnet_features(image, backbone, weights, dropout_rate):
    """The ResNet encoder's features, with dropout on the stride-32 and stride-16 outputs."""
    features = build_backbone(backbone, image, weights=weights)
    features[32] = _dropout(features[32], dropout_rate, "encoder32_dropout")
    features[16] = _dropout(features[16], dropout_rate, "encoder16_dropout")
    return features


@register_model("refinenet", size_divisor=32, paper="Lin et al., RefineNet, CVPR 2017, arXiv 1611.06612")
def RefineNet(num_classes, input_shape=(None, None, 3), backbone="resnet101", weights=None, output_rcus=3,
              dropout_rate=0.5, name="refinenet"):
    """Builds the 4-cascaded RefineNet on a ResNet.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); height and width must be multiples of 32 (None = any such size at
            run time).
        backbone: "resnet50", "resnet101" or "resnet152".
        weights: encoder weights: None, "imagenet" or a local file (see `kerasseg.backbones.build_backbone`).
        output_rcus: RCUs ending RefineNet-4, -3 and -2: 3 in the authors' released networks (default), 1 in
            the paper's text. RefineNet-1 always ends with 3 (its output RCU and the two extra ones before the
            classifier).
        dropout_rate: dropout on the stride-32 and stride-16 encoder outputs and before the classifier.
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    input_shape = check_model_arguments("RefineNet", num_classes, input_shape, 32)
    check_name("backbone", backbone, BACKBONES)
    if int(output_rcus) != output_rcus or output_rcus < 1:
        raise ValueError(f"output_rcus must be a positive integer, got {output_rcus!r}.")

    image = keras.Input(input_shape, name="image")
    features = _resnet_features(image, backbone, weights, dropout_rate)
    previous = None
    for block, stride in ((4, 32), (3, 16), (2, 8), (1, 4)):
        prefix = f"refine{block}"
        x = _conv(features[stride], WIDTHS[stride], 3, f"{prefix}_adapt_conv")
        x = residual_conv_units(x, 2, f"{prefix}_adapt_rcu")
        if previous is not None:
            x = multi_resolution_fusion([x, previous], f"{prefix}_fusion", filters=WIDTHS[stride])
        x = chained_residual_pooling(x, f"{prefix}_crp")
        x = residual_conv_units(x, 3 if block == 1 else int(output_rcus), f"{prefix}_out_rcu")
        previous = x

    return _model(image, previous, num_classes, name, dropout_rate=dropout_rate)


def _mobilenetv2_taps(image, features):
    """The six RF-LW-MobileNetV2 taps: the four levels plus blocks 9 and 15, found by name in the encoder graph."""
    encoder = keras.Model(image, features[32])
    extra = {}
    for block in (9, 15):
        suffix = f"block_{block}_add"
        matches = [layer.name for layer in encoder.layers if layer.name == suffix or layer.name.endswith("_" + suffix)]
        if len(matches) != 1:
            raise ValueError(f"MobileNetV2 encoder: expected one layer named like {suffix!r}, found {matches}.")
        extra[block] = encoder.get_layer(matches[0]).output
    return [features[4], features[8], extra[9], features[16], extra[15], features[32]]


@register_model("refinenet_lw", size_divisor=32,
                paper="Nekrasov et al., Light-Weight RefineNet, BMVC 2018, arXiv 1810.03272")
def LightWeightRefineNet(num_classes, input_shape=(None, None, 3), backbone="resnet50", weights=None,
                         dropout_rate=0.5, name="refinenet_lw"):
    """Builds Light-Weight RefineNet (RF-LW): 1x1-conv chained residual pooling, no RCUs.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); height and width must be multiples of 32 (None = any such size at
            run time).
        backbone: "resnet50", "resnet101", "resnet152" or "mobilenetv2".
        weights: encoder weights: None, "imagenet" or a local file (see `kerasseg.backbones.build_backbone`).
        dropout_rate: ResNet encoders only: dropout on the stride-32 and stride-16 encoder outputs.
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    input_shape = check_model_arguments("LightWeightRefineNet", num_classes, input_shape, 32)
    check_name("backbone", backbone, LIGHT_WEIGHT_BACKBONES)
    image = keras.Input(input_shape, name="image")
    if backbone == "mobilenetv2":
        # The authors' encoder stops at block 16 (320 channels): no final 1x1 conv to 1280.
        features = build_backbone(backbone, image, weights=weights, final_conv=False)
        x = _light_weight_mobilenetv2_decoder(_mobilenetv2_taps(image, features))
        return _model(image, x, num_classes, name)

    features = _resnet_features(image, backbone, weights, dropout_rate)
    previous = None
    for block, stride in ((4, 32), (3, 16), (2, 8), (1, 4)):
        prefix = f"refine{block}"
        x = _conv(features[stride], WIDTHS[stride], 1, f"{prefix}_adapt_conv")
        if previous is not None:
            x = multi_resolution_fusion([x, previous], f"{prefix}_fusion", filters=WIDTHS[stride], kernel_size=1)
        previous = chained_residual_pooling(x, f"{prefix}_crp", kernel_size=1)
    return _model(image, previous, num_classes, name)


def _light_weight_mobilenetv2_decoder(taps, width=256):
    """RF-LW decoder over the six MobileNetV2 taps (strides 4, 8, 16, 16, 32, 32), ReLU6 as in the authors' code."""
    t24, t32, t64, t96, t160, t320 = [_conv(t, width, 1, f"adapt_{t.shape[-1]}") for t in taps]
    x = keras.layers.Add(name="refine4_sum")([t320, t160])
    x = chained_residual_pooling(x, "refine4_crp", kernel_size=1, activation="relu6")
    x = _conv(x, width, 1, "refine4_fusion_conv")
    x = Resize(name="refine4_up")([x, t96])
    x = keras.layers.Add(name="refine3_sum")([t64, t96, x])
    x = chained_residual_pooling(x, "refine3_crp", kernel_size=1, activation="relu6")
    x = _conv(x, width, 1, "refine3_fusion_conv")
    x = Resize(name="refine3_up")([x, t32])
    x = keras.layers.Add(name="refine2_sum")([t32, x])
    x = chained_residual_pooling(x, "refine2_crp", kernel_size=1, activation="relu6")
    x = _conv(x, width, 1, "refine2_fusion_conv")
    x = Resize(name="refine2_up")([x, t24])
    x = keras.layers.Add(name="refine1_sum")([t24, x])
    return chained_residual_pooling(x, "refine1_crp", kernel_size=1, activation="relu6")
