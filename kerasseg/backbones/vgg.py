"""VGG16 (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015), layer for layer as `keras.applications.VGG16` so its ImageNet weights load."""
import keras

from kerasseg.backbones._common import LayerFactory, StrideSchedule, check_inputs, load_weights
from kerasseg.layers import ImagePreprocess

#: (block, convs, filters) of VGG16's five conv blocks.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def vgg16(inputs, output_stride=32, weights=None, name="vgg16", first_conv_padding=1, ceil_mode_pooling=False):
    """VGG16 conv layers (13 3x3 convs with ReLU, five 2x2 max-pools), ImageNet "caffe" preprocessing inside.

    Features are the pool outputs: stride 4 `block2_pool` (128 channels), 8 `block3_pool` (256), 16
    `block4_pool` (512), 32 `block5_pool` (512). With `output_stride` 16 or 8 the later pools become 3x3
    stride-1 pools and the convs after them are dilated (DeepLab v1's VGG).

    Args:
        inputs: Keras tensor [B, H, W, 3], float RGB in [0, 255].
        output_stride: 8, 16 or 32.
        weights: None, "imagenet" or a local file (Keras `vgg16_..._notop.h5`, or a kerasseg `.npz`).
        name: layer-name prefix.
        first_conv_padding: zero padding of `block1_conv1` (1 = "same"); FCN uses 100 so that the 7x7 fc6 fits
            any input and its crop offsets hold.
        ceil_mode_pooling: pool with "same" padding (Caffe's ceil mode, as FCN's reference net) instead of
            Keras' "valid" (floor).

    Returns:
        dict {4, 8, 16, 32: Keras tensor}.
    """
    check_inputs(name, inputs)
    if int(first_conv_padding) != first_conv_padding or first_conv_padding < 0:
        raise ValueError(f"first_conv_padding must be a non-negative integer, got {first_conv_padding!r}.")
    layer = LayerFactory(name)
    schedule = StrideSchedule(output_stride)
    x = layer(ImagePreprocess, "preprocess", "caffe")(inputs)
    features = {}
    rate = 1
    for block, convs, filters in VGG16_BLOCKS:
        for i in range(1, convs + 1):
            padding = "same"
            if block == 1 and i == 1 and first_conv_padding != 1:
                x = layer(keras.layers.ZeroPadding2D, "block1_pad", int(first_conv_padding))(x)
                padding = "valid"
            x = layer(keras.layers.Conv2D, f"block{block}_conv{i}", filters, 3, padding=padding,
                      dilation_rate=rate, activation="relu")(x)
        stride, _ = schedule.step(2)
        rate = schedule.rate
        if stride == 2:
            x = layer(keras.layers.MaxPooling2D, f"block{block}_pool", 2, strides=2,
                      padding="same" if ceil_mode_pooling else "valid")(x)
        else:
            x = layer(keras.layers.MaxPooling2D, f"block{block}_pool", 3, strides=1, padding="same")(x)
        if block >= 2:
            features[2 ** block] = x
    load_weights(name, layer, weights, application=keras.applications.VGG16)
    return features
