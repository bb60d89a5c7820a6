"""ImageNet input preprocessing as a layer, so the exported graphs take raw [0, 255] RGB pixels."""
import keras
import numpy as np
import tensorflow as tf

#: BGR channel means of the Caffe-trained ImageNet weights (Keras VGG16 / ResNet "caffe" mode).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
#: RGB mean and standard deviation (in [0, 255]) of torchvision-style ImageNet weights ("torch" mode).
TORCH_RGB_MEAN = (123.675, 116.28, 103.53)
TORCH_RGB_STD = (58.395, 57.12, 57.375)
MODES = ("caffe", "tf", "torch")


def affine_map(mode):
    """Returns (M [3, 3], b [3]) float32 with preprocess(x) = x M + b for RGB pixels x in [0, 255] (rows of M:
    input channels, columns: output channels).

    Raises:
        ValueError: an unknown mode.
    """
    if mode == "tf":  # x / 127.5 - 1
        scale, mean, order = np.full(3, 1.0 / 127.5), np.full(3, 127.5), [0, 1, 2]
    elif mode == "caffe":  # BGR, minus the BGR mean
        scale, mean, order = np.ones(3), np.asarray(CAFFE_BGR_MEAN), [2, 1, 0]
    elif mode == "torch":  # (x / 255 - mean / 255) / (std / 255)
        scale, mean, order = 1.0 / np.asarray(TORCH_RGB_STD), np.asarray(TORCH_RGB_MEAN), [0, 1, 2]
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    matrix = np.zeros([3, 3])
    matrix[order, [0, 1, 2]] = scale  # output channel j reads input channel order[j]
    return matrix.astype(np.float32), (-mean * scale).astype(np.float32)


@keras.saving.register_keras_serializable(package="kerasseg")
class ImagePreprocess(keras.layers.Layer):
    """Maps float RGB pixels in [0, 255] to what a backbone's ImageNet weights were trained on.

    The modes are those of `keras.applications.imagenet_utils.preprocess_input`:

    - "caffe": RGB -> BGR, minus the BGR ImageNet mean, no scaling (Keras VGG16 and ResNet50/101/152).
    - "tf": x / 127.5 - 1, i.e. [-1, 1] (Keras Xception and MobileNetV2).
    - "torch": x / 255, minus the RGB mean, divided by the RGB standard deviation (torchvision weights; the
      ResNet-18/34 backbones).

    Every mode is an affine map of the three channels, y = x M + b (M a scaled permutation: the channel reversal
    of "caffe" or the identity), computed as one 1x1 convolution with a bias. In an int8 TFLite model that is one
    int8 CONV_2D, which XNNPACK runs in 0.5 ms on a 360x480 image, where the subtraction and multiplication as
    int8 element-wise ops took 1.7 ms (CamVid ENet, `python -m kerasseg.litert.profile`, 1 thread; fp32: 1.1 ->
    0.3 ms); ONNX gets one Conv. The values are Keras' to float32 round-off.

    Args:
        mode: "caffe", "tf" or "torch".
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, x):
        x = tf.cast(x, self.compute_dtype)
        matrix, bias = affine_map(self.mode)
        kernel = tf.constant(matrix.reshape(1, 1, 3, 3), dtype=x.dtype)
        return tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=1, padding="VALID"), tf.constant(bias, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
