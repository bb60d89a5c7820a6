"""SFNet (Li, You, Yang, Tong, Zhao, Tong, Tan, Lin, "Semantic Flow for Fast and Accurate Scene Parsing",
ECCV 2020, arXiv 2002.10120).

Layout, following the authors' reference code (UperNetAlignHead) for an H x W input:

| part | what | output |
|---|---|---|
| encoder | ResNet-18 (deep stem) / ResNet-50 / ResNet-101, strides 4, 8, 16, 32 | C2..C5 |
| PPM | on C5, bins 1, 2, 3, 6: pool -> 1x1 conv -> BN per bin; concat with C5 -> 1x1 conv-BN-ReLU, dropout 0.1 | P5, D x H/32 |
| top-down | for C4, C3, C2: lateral 1x1 conv (bias)-BN-ReLU to D; f = lateral + FAM(lateral, f); 3x3 conv-BN-ReLU | P4, P3, P2 |
| fusion | P2 ++ up(P3) ++ up(P4) ++ up(P5) -> 3x3 conv-BN-ReLU (D) -> 1x1 conv (classes, bias) | H/4 |
| output | bilinear up-sampling to the input size | classes x H x W |

D (the FPN width) is 128 for ResNet-18 and 256 for ResNet-50/101. The Flow Alignment Module (FAM,
`kerasseg.layers.flow_alignment_module`) reduces both maps to D/2 with 1x1 convs, up-samples the reduced
high-level map, predicts a 2-channel flow with a 3x3 conv on their concatenation, and warps the un-reduced
high-level map (`FlowWarp`) onto the lateral grid.

Optional auxiliary (deep-supervision) heads on the fused top-down maps at strides 16, 8, 4 (3x3 conv (bias)-BN-
ReLU, dropout 0.1, 1x1 conv to the classes), up-sampled to the input size: the model then returns a dict
{"logits", "aux_16", "aux_8", "aux_4"}. They serve training only; see `kerasseg.models.auxiliary` for
`model.fit` and `inference_model` (what to export).

Differences from the reference code: bilinear sampling uses half-pixel centres everywhere (`Resize`, the warp
included; the reference code uses align_corners=True), so the flow is measured in output pixels (the
reference's unit is half an output pixel; a constant factor the flow conv absorbs).
"""
import functools

import keras

from kerasseg.backbones import build_backbone
from kerasseg.layers import (Resize, conv_bn_act, flow_alignment_module, pyramid_pooling_module,
                             segmentation_head)
from kerasseg.errors import check_name
from kerasseg.models._inputs import check_model_arguments
from kerasseg.models.auxiliary import MAIN_OUTPUT
from kerasseg.registry import register_model
from kerasseg.segmentation_model import SegmentationModel

BACKBONES = ("resnet18_deep", "resnet50", "resnet101")
#: FPN width per encoder, as in the reference code.
FPN_FILTERS = {"resnet18_deep": 128, "resnet50": 256, "resnet101": 256}
_BN = dict(bn_momentum=0.9, bn_epsilon=1e-5)  # PyTorch BatchNorm2d defaults
_conv_bn_relu = functools.partial(conv_bn_act, **_BN)


def _auxiliary_head(x, num_classes, image, name):
    y = _conv_bn_relu(x, x.shape[-1], 3, name, use_bias=True)
    return segmentation_head(y, num_classes, image, name=name, dropout_rate=0.1, spatial_dropout=True)


@register_model("sfnet", size_divisor=32, paper="Li et al., SFNet, ECCV 2020, arXiv 2002.10120")
def SFNet(num_classes, input_shape=(None, None, 3), backbone="resnet18_deep", weights=None, fpn_filters=None,
          ppm_bins=(1, 2, 3, 6), auxiliary_heads=False, name="sfnet"):
    """Builds SFNet: ResNet encoder, PPM, FPN decoder whose up-sampling is the Flow Alignment Module.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); height and width must be multiples of 32 (None = any such size at
            run time).
        backbone: "resnet18_deep" (three 3x3 convs stem, as the paper's ResNet-18), "resnet50" or "resnet101".
        weights: encoder weights: None, "imagenet" or a local file (see `kerasseg.backbones.build_backbone`).
        fpn_filters: FPN width D; None for 128 (ResNet-18) or 256 (ResNet-50/101).
        ppm_bins: pooling grid sizes of the PPM.
        auxiliary_heads: add deep-supervision heads (training only); the model then returns a dict of logits
            with the main ones under "logits".
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes] (or to
        a dict of such logits with `auxiliary_heads=True`).
    """
    input_shape = check_model_arguments("SFNet", num_classes, input_shape, 32)
    check_name("backbone", backbone, BACKBONES)
    fpn_filters = FPN_FILTERS[backbone] if fpn_filters is None else int(fpn_filters)
    if fpn_filters < 2:
        raise ValueError(f"fpn_filters must be >= 2 (the FAM halves it), got {fpn_filters}.")

    image = keras.Input(input_shape, name="image")
    features = build_backbone(backbone, image, weights=weights)

    f = pyramid_pooling_module(features[32], fpn_filters, "ppm", bins=ppm_bins, **_BN)
    pyramid = {32: f}
    auxiliary = {}
    for stride in (16, 8, 4):
        lateral = _conv_bn_relu(features[stride], fpn_filters, 1, f"fpn_lateral{stride}", use_bias=True)
        aligned = flow_alignment_module(lateral, f, f"fam{stride}", reduced_filters=fpn_filters // 2)
        f = keras.layers.Add(name=f"fpn_sum{stride}")([lateral, aligned])
        pyramid[stride] = _conv_bn_relu(f, fpn_filters, 3, f"fpn_out{stride}")
        if auxiliary_heads:
            auxiliary[f"aux_{stride}"] = _auxiliary_head(f, num_classes, image, f"aux{stride}")

    finest = pyramid[4]
    fused = [finest] + [Resize(name=f"fuse_up{s}")([pyramid[s], finest]) for s in (8, 16, 32)]
    x = keras.layers.Concatenate(name="fuse_concat")(fused)
    x = _conv_bn_relu(x, fpn_filters, 3, "fuse")
    logits = segmentation_head(x, num_classes, image)
    outputs = {MAIN_OUTPUT: logits, **auxiliary} if auxiliary_heads else logits
    return SegmentationModel(image, outputs, name=name)
