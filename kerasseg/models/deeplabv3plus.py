"""DeepLabv3+ (Chen, Zhu, Papandreou, Schroff, Adam, "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation", ECCV 2018).

Encoder: a backbone at output stride 16 (or 8) and ASPP (`kerasseg.layers.aspp`): 1x1 conv, three 3x3 atrous
convs (rates 6/12/18 at output stride 16, 12/24/36 at 8), image pooling, 256 channels each with BN + ReLU,
concat -> 1x1 conv to 256 -> dropout 0.1.
Decoder: the stride-4 backbone feature projected to 48 channels (1x1 conv, BN, ReLU), concatenated with the
encoder output bilinearly up-sampled to its size (4x at output stride 16), two 3x3 convs of 256 (BN, ReLU;
separable when configured), then the shared head (`kerasseg.layers.segmentation_head`): a 1x1 conv to the
classes and bilinear up-sampling to the input size.

Backbones: "resnet50", "resnet101", "xception" (Keras' Xception, not the paper's modified aligned Xception-65)
and "mobilenetv2" (the 320-channel block-16 output, without the final 1x1 conv, as the reference mobile
models). `light_head=True` drops the three atrous branches, leaving the 1x1 and image-pooling branches, as the
reference MobileNetV2 models do.

Every resize is `kerasseg.layers.Resize` to the size of a reference tensor, so the model runs at any H, W inside
`tf.function` (SavedModel) and exports to RESIZE_BILINEAR (TFLite) / Resize (ONNX) at a fixed size.
"""
import keras

from kerasseg.backbones import build_backbone
from kerasseg.layers import ATROUS_RATES, Resize, aspp, conv_bn_act, segmentation_head
from kerasseg.layers.aspp import BN
from kerasseg.errors import check_name
from kerasseg.models._inputs import check_choice, check_model_arguments
from kerasseg.registry import register_model
from kerasseg.segmentation_model import SegmentationModel

BACKBONES = ("mobilenetv2", "resnet50", "resnet101", "xception")
#: Separable ASPP and decoder convs by default where the paper / reference use them.
SEPARABLE_BY_DEFAULT = {"mobilenetv2": True, "xception": True, "resnet50": False, "resnet101": False}
PAPER = "Chen et al., Encoder-Decoder with Atrous Separable Convolution (DeepLabv3+), ECCV 2018"


@register_model("deeplabv3plus", size_divisor=1, paper=PAPER)
def DeepLabV3Plus(num_classes, input_shape=(None, None, 3), backbone="mobilenetv2", output_stride=16,
                  atrous_rates=None, separable=None, light_head=False, aspp_filters=256, decoder_filters=256,
                  low_level_filters=48, dropout_rate=0.1, weights=None, name="deeplabv3plus"):
    """Builds DeepLabv3+.

    Args:
        num_classes: number of output classes.
        input_shape: (height, width, 3); any height and width (None = known at run time).
        backbone: one of `BACKBONES`.
        output_stride: 16 or 8, the encoder's output stride (later backbone stages dilated).
        atrous_rates: rates of the ASPP 3x3 branches; None for the paper's `ATROUS_RATES[output_stride]`.
        separable: atrous separable convs in ASPP and decoder; None for the paper's choice per backbone (True
            for xception and mobilenetv2, False for the ResNets).
        light_head: no atrous ASPP branches (1x1 + image pooling only), as the reference MobileNetV2 models.
        aspp_filters: channels of the ASPP branches and projection (256).
        decoder_filters: channels of the decoder's 3x3 convs (256).
        low_level_filters: channels of the projected stride-4 feature (48).
        dropout_rate: dropout after the ASPP projection.
        weights: backbone weights: None, "imagenet" or a local file (see `kerasseg.backbones.build_backbone`).
        name: the model's name.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    input_shape = check_model_arguments("DeepLabV3Plus", num_classes, input_shape, 1)
    check_name("backbone", backbone, BACKBONES)
    check_choice("output_stride", output_stride, tuple(ATROUS_RATES))
    if light_head and atrous_rates:
        raise ValueError("light_head=True has no atrous branches: leave atrous_rates unset.")
    rates = () if light_head else tuple(ATROUS_RATES[output_stride] if atrous_rates is None else atrous_rates)
    separable = SEPARABLE_BY_DEFAULT[backbone] if separable is None else bool(separable)
    options = {"final_conv": False} if backbone == "mobilenetv2" else {}

    inputs = keras.Input(input_shape, name="image")
    features = build_backbone(backbone, inputs, output_stride=output_stride, weights=weights, **options)
    x = aspp(features[32], filters=aspp_filters, atrous_rates=rates, separable=separable,
             dropout_rate=dropout_rate, name="aspp")

    low_level = conv_bn_act(features[4], low_level_filters, 1, "decoder_low_level", **BN)
    x = Resize(name="decoder_upsample")([x, low_level])
    x = keras.layers.Concatenate(name="decoder_concat")([x, low_level])
    x = conv_bn_act(x, decoder_filters, 3, "decoder_conv1", separable=separable, **BN)
    x = conv_bn_act(x, decoder_filters, 3, "decoder_conv2", separable=separable, **BN)
    return SegmentationModel(inputs, segmentation_head(x, num_classes, inputs), name=name)
