"""Multi-scale encoders with one interface: `build_backbone(name, inputs, output_stride, weights)`.

Every backbone returns a dict of feature maps keyed by the nominal level stride 4, 8, 16 and 32. With
`output_stride` 16 or 8, striding in the later stages is replaced by dilation (as DeepLab does): the keys stay
4/8/16/32 and the actual stride of level k is min(k, output_stride). Inputs are float32 RGB in [0, 255]; each
backbone applies the preprocessing its ImageNet weights expect as its first layer (`ImagePreprocess`). Layer
names are prefixed with the backbone name, so two backbones never clash and models round-trip through `.keras`.

| name | paper | levels 4/8/16/32 channels | ImageNet weights |
|---|---|---|---|
| vgg16 | Simonyan & Zisserman, ICLR 2015 | 128/256/512/512 | keras.applications.VGG16 |
| resnet18, resnet34 | He et al., CVPR 2016 | 64/128/256/512 | local `.npz` only |
| resnet18_deep | deep stem (3x 3x3 convs), as SFNet | 64/128/256/512 | local `.npz` only |
| resnet50, resnet101, resnet152 | He et al., CVPR 2016 | 256/512/1024/2048 | keras.applications.ResNet* |
| xception | Chollet, CVPR 2017 | 256/728/1024/2048 | keras.applications.Xception |
| mobilenetv2 | Sandler et al., CVPR 2018 | 24/32/96/1280 (320 without final conv) | keras.applications.MobileNetV2 |
"""
import functools

from kerasseg.backbones._common import LEVELS, OUTPUT_STRIDES, save_backbone_weights
from kerasseg.errors import check_name
from kerasseg.backbones.mobilenetv2 import mobilenetv2
from kerasseg.backbones.resnet import resnet_basic, resnet_bottleneck
from kerasseg.backbones.vgg import vgg16
from kerasseg.backbones.xception import xception

_BACKBONES = {
    "vgg16": vgg16,
    "resnet18": functools.partial(resnet_basic, depth_name="resnet18"),
    "resnet34": functools.partial(resnet_basic, depth_name="resnet34"),
    "resnet18_deep": functools.partial(resnet_basic, depth_name="resnet18_deep"),
    "resnet50": functools.partial(resnet_bottleneck, depth_name="resnet50"),
    "resnet101": functools.partial(resnet_bottleneck, depth_name="resnet101"),
    "resnet152": functools.partial(resnet_bottleneck, depth_name="resnet152"),
    "xception": xception,
    "mobilenetv2": mobilenetv2,
}

#: Channels of levels 4, 8, 16, 32 (with default options).
FEATURE_CHANNELS = {
    "vgg16": (128, 256, 512, 512),
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet18_deep": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
    "resnet101": (256, 512, 1024, 2048),
    "resnet152": (256, 512, 1024, 2048),
    "xception": (256, 728, 1024, 2048),
    "mobilenetv2": (24, 32, 96, 1280),
}

__all__ = ["FEATURE_CHANNELS", "LEVELS", "OUTPUT_STRIDES", "build_backbone", "list_backbones",
           "save_backbone_weights"]


def list_backbones():
    """Returns the sorted names of the available backbones."""
    return sorted(_BACKBONES)


def build_backbone(name, inputs, output_stride=32, weights=None, **options):
    """Applies backbone `name` to `inputs` and returns its multi-scale features.

    Args:
        name: one of `list_backbones()`.
        inputs: Keras tensor [B, H, W, 3], float32 RGB in [0, 255].
        output_stride: 8, 16 or 32; the coarsest actual stride (later stages dilated instead of strided).
        weights: None (random), "imagenet" (the standard Keras applications weights: from the Keras cache, else
            downloaded with a timeout; a clear error when offline) or a local file: the Keras applications
            `*_notop.h5` file, or a `.npz` written by `save_backbone_weights`.
        **options: family-specific options (e.g. `final_conv` for mobilenetv2, `block1_padding` for xception,
            `first_conv_padding` / `ceil_mode_pooling` for vgg16, `name` for the layer prefix).

    Returns:
        dict {4, 8, 16, 32: Keras tensor}; level k has stride min(k, output_stride).

    Raises:
        ValueError: unknown name (listing the known ones), bad output_stride, inputs or weights.
    """
    check_name("backbone", name, list_backbones())
    return _BACKBONES[name](inputs, output_stride=output_stride, weights=weights, **options)
