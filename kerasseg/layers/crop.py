"""Crop a feature map to the spatial size of a reference tensor at a fixed offset (Caffe's Crop layer, as FCN
uses it to align up-sampled scores with skip scores and with the input)."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class CropToReference(keras.layers.Layer):
    """`x[:, offset:offset + H_ref, offset:offset + W_ref, :]` for `CropToReference(offset)([x, reference])`.

    The size is read at run time, so any input size works inside `tf.function`; it becomes a SLICE (TFLite) /
    Slice (ONNX). `x` must be at least `offset + H_ref` by `offset + W_ref` (checked in the graph).

    Args:
        offset: rows and columns dropped at the top and left.
    """

    def __init__(self, offset, **kwargs):
        super().__init__(**kwargs)
        if int(offset) != offset or offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset!r}.")
        self.offset = int(offset)

    def call(self, inputs):
        x, reference = inputs
        static, dynamic = reference.shape[1:3], tf.shape(reference)[1:3]
        size = [static[i] if static[i] is not None else dynamic[i] for i in range(2)]
        x_static = x.shape[1:3]
        if all(s is not None for s in size) and all(s is not None for s in x_static):
            if x_static[0] < self.offset + size[0] or x_static[1] < self.offset + size[1]:
                raise ValueError(f"{self.name}: cannot crop {tuple(x_static)} at offset {self.offset} to "
                                 f"{tuple(size)}.")
        return x[:, self.offset:self.offset + size[0], self.offset:self.offset + size[1], :]

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}
