"""Export-safe max-unpooling.

The textbook formulation, `tf.nn.max_pool_with_argmax` followed by a scatter of the updates to the argmax
positions, has no builtin TFLite kernel (it needs Flex ops, which Android apps do not ship by default). This
layer recomputes the argmax position of each pooling window from the tensor that was pooled: SPACE_TO_DEPTH
splits every k x k window into k*k channel groups, an equality test against the window maximum marks the
winner (the first one in row-major order on ties, as argmax does), SELECT_V2 places the updates there (a
second SELECT_V2 takes a placed update out of what the later positions may take) and DEPTH_TO_SPACE restores
the layout. Every op is builtin in TFLite and exists in ONNX. An earlier form of the tie rule (LESS and
LOGICAL_AND per position; LiteRT runs neither in XNNPACK, LOGICAL_AND took 0.3 ms an op) made each of ENet's
two unpoolings at 360x480 take ~2 ms in the fp32 file, ~1 ms now (`python -m kerasseg.litert.profile`).

In an int8 TFLite model the layer stays float32 (`keep_float_in_int8`): XNNPACK runs none of the int8
comparisons and selects, and LiteRT's int8 comparison kernels rescale both inputs of every element: ENet's two
unpoolings took 10.2 ms of an int8 model of 48 ms (the earlier form, 1 thread), and take 2.0 ms as float ops
behind a DEQUANTIZE, which XNNPACK runs (as it does the float window maximum). The CamVid ENet's int8 val mIoU
is the same either way (65.74 with the earlier PReLU form).

In training the layer runs one kernel instead of those ~20: scattering the updates to each window's argmax is
exactly what the gradient of max-pooling does, so `MaxPoolGrad(pooled_input, max_pool(pooled_input), updates)`
computes the same tensor (first position on ties, as TensorFlow's CPU kernel scans the window row by row), and
its own gradient gathers from the same positions. Inference, and so every exported graph, keeps the builtin path.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class MaxUnpooling2D(keras.layers.Layer):
    """Max-unpooling for non-overlapping `pool_size` x `pool_size` max-pooling (stride = pool size).

    Call it on `[updates, pooled_input]`: `updates` has the pooled map's spatial size; `pooled_input` is the
    tensor that went into the max-pool (same channels as `updates`, `pool_size` times larger). Each update is
    written at the position of its window's maximum; every other position is zero.

    Args:
        pool_size: the window size (and stride) of the max-pooling being inverted.

    Returns:
        A tensor shaped like `pooled_input` carrying the values of `updates`.

    Reference: Badrinarayanan et al., "SegNet", TPAMI 2017; Paszke et al., "ENet", arXiv 1606.02147.
    """

    #: `kerasseg.export.tflite` keeps the ops of this layer float32 in an int8 model (module docstring).
    keep_float_in_int8 = True

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        if int(pool_size) != pool_size or pool_size < 2:
            raise ValueError(f"pool_size must be an integer >= 2, got {pool_size!r}.")
        self.pool_size = int(pool_size)

    def call(self, inputs, training=None):
        updates, pooled_input = inputs
        k = self.pool_size
        if training:
            window = [1, k, k, 1]
            return tf.raw_ops.MaxPoolGrad(
                orig_input=pooled_input, orig_output=tf.nn.max_pool2d(pooled_input, k, k, "VALID"),
                grad=tf.cast(updates, pooled_input.dtype), ksize=window, strides=window, padding="VALID",
            )
        # [B, h, w, k*k*C], channel block j holds window position (j // k, j % k).
        windows = tf.split(tf.nn.space_to_depth(pooled_input, k), k * k, axis=-1)
        window_max = windows[0]
        for w in windows[1:]:
            window_max = tf.maximum(window_max, w)
        zeros = tf.zeros_like(updates)
        # The first position (row-major) holding its window's maximum takes the update, as argmax does on ties:
        # `remaining` carries the update until a position takes it, then zero. The last position takes what
        # remains: no earlier one held the maximum. (Selects only, so the gradient is exact as well.)
        remaining = updates
        placed = []
        for w in windows[:-1]:
            is_max = tf.equal(w, window_max)
            placed.append(tf.where(is_max, remaining, zeros))
            remaining = tf.where(is_max, zeros, remaining)
        placed.append(remaining)
        return tf.nn.depth_to_space(tf.concat(placed, axis=-1), k)

    def compute_output_shape(self, input_shape):
        updates_shape, pooled_shape = input_shape
        return (*pooled_shape[:3], updates_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
