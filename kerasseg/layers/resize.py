"""Resize layer built on `tf.image.resize`.

Keras 3.15's `UpSampling2D(interpolation="bilinear")` and `keras.ops.image.resize` fail inside `tf.function`
when height and width are unknown; `tf.image.resize` with a run-time size tensor does not, and it converts to
RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR in TFLite and to Resize in ONNX.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class Resize(keras.layers.Layer):
    """Resizes a feature map by a fixed factor, or to the spatial size of a reference tensor.

    Call it as `Resize(scale=2)(x)` or `Resize()([x, reference])`. Sampling uses half-pixel centres
    (PyTorch's `align_corners=False`).

    Args:
        scale: integer up-sampling factor; None to take the size from a reference tensor.
        interpolation: "bilinear" or "nearest".

    Returns:
        The resized tensor, in the dtype of its input.
    """

    def __init__(self, scale=None, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}.")
        if scale is not None and (int(scale) != scale or scale < 1):
            raise ValueError(f"scale must be a positive integer or None, got {scale!r}.")
        self.scale = None if scale is None else int(scale)
        self.interpolation = interpolation

    def _target_size(self, inputs):
        if self.scale is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("Resize() without scale is called on [tensor, reference].")
            x, reference = inputs
            static, dynamic = reference.shape[1:3], tf.shape(reference)[1:3]
            size = [static[i] if static[i] is not None else dynamic[i] for i in range(2)]
        else:
            x = inputs
            static, dynamic = x.shape[1:3], tf.shape(x)[1:3]
            size = [static[i] * self.scale if static[i] is not None else dynamic[i] * self.scale for i in range(2)]
        return x, size

    def call(self, inputs):
        x, size = self._target_size(inputs)
        method = tf.image.ResizeMethod.BILINEAR if self.interpolation == "bilinear" else "nearest"
        return tf.cast(tf.image.resize(x, tf.stack(size), method=method), x.dtype)

    def compute_output_shape(self, input_shape):
        if self.scale is None:
            x_shape, ref_shape = input_shape
            return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])
        h, w = input_shape[1:3]
        return (
            input_shape[0],
            None if h is None else h * self.scale,
            None if w is None else w * self.scale,
            input_shape[3],
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "interpolation": self.interpolation}
