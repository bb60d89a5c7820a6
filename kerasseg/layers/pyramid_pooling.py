"""Adaptive average pooling and the Pyramid Pooling Module (PPM).

Reference: Zhao, Shi, Qi, Wang, Jia, "Pyramid Scene Parsing Network", CVPR 2017, arXiv 1612.01105.
"""
import keras
import tensorflow as tf

from kerasseg.layers.conv_bn_act import conv_bn_act
from kerasseg.layers.resize import Resize


@keras.saving.register_keras_serializable(package="kerasseg")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average-pools an NHWC map into a `bins` x `bins` grid of (possibly overlapping) regions.

    Bin i along an axis of size n covers [floor(i * n / bins), ceil((i + 1) * n / bins)), as PyTorch's
    `AdaptiveAvgPool2d` does, so it works for any input size, divisible or not. Unlike
    `keras.layers.AdaptiveAveragePooling2D` (Keras 3.15), height and width may be unknown until run time
    (inside `tf.function`, SavedModel serving). The pooling is separable: row bands are averaged first
    (STRIDED_SLICE + MEAN), then column bands of the result, which is exact for rectangular regions; every op
    is builtin in TFLite (int8 included) and exists in ONNX.

    Args:
        bins: output grid size (a positive int).

    Returns:
        [B, bins, bins, C], in the dtype of the input.
    """

    def __init__(self, bins, **kwargs):
        super().__init__(**kwargs)
        if int(bins) != bins or bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins!r}.")
        self.bins = int(bins)

    def _pool_axis(self, x, axis):
        size = x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]
        if self.bins == 1:
            return tf.reduce_mean(x, axis=axis, keepdims=True)
        bands = []
        for i in range(self.bins):
            start = (i * size) // self.bins
            # ceil((i + 1) * size / bins) on non-negative numbers only: ONNX's integer Div truncates, so a
            # floor division of a negative number (the -(-a // b) idiom) would convert wrongly.
            end = ((i + 1) * size + self.bins - 1) // self.bins
            begin = [0, 0, 0, 0]
            stop = [0, 0, 0, 0]
            begin[axis], stop[axis] = start, end
            mask = [True] * 4
            mask[axis] = False  # begin/end given only along `axis`
            mask_bits = sum(1 << k for k in range(4) if mask[k])
            band = tf.strided_slice(x, tf.stack(begin), tf.stack(stop), begin_mask=mask_bits, end_mask=mask_bits)
            bands.append(tf.reduce_mean(band, axis=axis, keepdims=True))
        return tf.concat(bands, axis=axis)

    def call(self, x):
        return self._pool_axis(self._pool_axis(x, 1), 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins, self.bins, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


def pyramid_pooling_module(x, filters, name, bins=(1, 2, 3, 6), bottleneck_kernel_size=1, stage_activation=False,
                           dropout_rate=0.1, bn_momentum=0.99, bn_epsilon=1e-5):
    """Pyramid Pooling Module: pooled context at several grid sizes, up-sampled and fused with the input.

    Each stage: `AdaptiveAveragePooling2D(bin)` -> 1x1 conv (no bias) to `filters` -> BN (-> ReLU when
    `stage_activation`) -> bilinear up-sampling to the input size. The stages and the input are concatenated
    and fused by a `bottleneck_kernel_size` conv (no bias) -> BN -> ReLU -> spatial dropout.

    The SFNet reference code uses a 1x1 fusion conv and no ReLU inside the stages (the defaults); PSPNet
    uses a ReLU in each stage and a 3x3 fusion conv.

    Args:
        x: input feature map [B, H, W, C].
        filters: channels of every stage and of the output.
        name: prefix of the module's layer names.
        bins: pooling grid sizes.
        bottleneck_kernel_size: kernel size of the fusion conv.
        stage_activation: ReLU after each stage's BN.
        dropout_rate: spatial dropout after the fusion (0 for none).
        bn_momentum, bn_epsilon: batch-normalisation settings.

    Returns:
        [B, H, W, filters].
    """
    if not bins:
        raise ValueError("bins must name at least one pooling grid size.")
    bn = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    branches = []
    for b in bins:
        y = AdaptiveAveragePooling2D(b, name=f"{name}_pool{b}")(x)
        y = conv_bn_act(y, filters, 1, f"{name}_pool{b}", activation="relu" if stage_activation else None, **bn)
        branches.append(Resize(name=f"{name}_pool{b}_up")([y, x]))
    y = keras.layers.Concatenate(name=f"{name}_concat")([*branches, x])
    y = conv_bn_act(y, filters, bottleneck_kernel_size, f"{name}_bottleneck", **bn)
    if dropout_rate:
        y = keras.layers.SpatialDropout2D(dropout_rate, name=f"{name}_dropout")(y)
    return y
