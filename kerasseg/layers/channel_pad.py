"""Zero-padding along the channel axis (ENet's downsampling shortcut)."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class ChannelZeroPad(keras.layers.Layer):
    """Appends `pad_channels` all-zero channels to an NHWC tensor (a PAD op in TFLite and ONNX).

    Args:
        pad_channels: number of zero channels to append (>= 0).
    """

    def __init__(self, pad_channels, **kwargs):
        super().__init__(**kwargs)
        if pad_channels < 0:
            raise ValueError(f"pad_channels must be >= 0, got {pad_channels}.")
        self.pad_channels = int(pad_channels)

    def call(self, x):
        return tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.pad_channels]])

    def compute_output_shape(self, input_shape):
        c = input_shape[-1]
        return (*input_shape[:-1], None if c is None else c + self.pad_channels)

    def get_config(self):
        return {**super().get_config(), "pad_channels": self.pad_channels}
