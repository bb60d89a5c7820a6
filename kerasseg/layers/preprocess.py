"""ImageNet input preprocessing as a layer, so the exported graphs take raw [0, 255] RGB pixels."""
import keras
import tensorflow as tf

#: BGR channel means of the Caffe-trained ImageNet weights (Keras VGG16 / ResNet "caffe" mode).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
#: RGB mean and standard deviation (in [0, 255]) of torchvision-style ImageNet weights ("torch" mode).
TORCH_RGB_MEAN = (123.675, 116.28, 103.53)
TORCH_RGB_STD = (58.395, 57.12, 57.375)
MODES = ("caffe", "tf", "torch")


@keras.saving.register_keras_serializable(package="kerasseg")
class ImagePreprocess(keras.layers.Layer):
    """Maps float RGB pixels in [0, 255] to what a backbone's ImageNet weights were trained on.

    The modes are those of `keras.applications.imagenet_utils.preprocess_input`:

    - "caffe": RGB -> BGR, minus the BGR ImageNet mean, no scaling (Keras VGG16 and ResNet50/101/152).
    - "tf": x / 127.5 - 1, i.e. [-1, 1] (Keras Xception and MobileNetV2).
    - "torch": x / 255, minus the RGB mean, divided by the RGB standard deviation (torchvision weights; the
      ResNet-18/34 backbones).

    The channel reversal is a strided slice + concat and the rest an affine map, so the layer becomes builtin
    TFLite ops (also int8) and plain ONNX ops.

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
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            x = tf.concat([x[..., 2:3], x[..., 1:2], x[..., 0:1]], axis=-1)
            return x - tf.constant(CAFFE_BGR_MEAN, dtype=x.dtype)
        mean = tf.constant(TORCH_RGB_MEAN, dtype=x.dtype)
        return (x - mean) * tf.constant([1.0 / s for s in TORCH_RGB_STD], dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
