"""Export-safe max-unpooling.

The textbook formulation, `tf.nn.max_pool_with_argmax` followed by a scatter of the updates to the argmax
positions, has no builtin TFLite kernel (it needs Flex ops, which Android apps do not ship by default). This
layer recomputes the argmax position of each pooling window from the tensor that was pooled: SPACE_TO_DEPTH
splits every k x k window into k*k channel groups, an equality test against the window maximum marks the winner
(the first one in row-major order on ties, as argmax does), SELECT_V2 places the updates there and
DEPTH_TO_SPACE restores the layout. Every op is builtin in TFLite (int8 included) and exists in ONNX.

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
        # Position j wins when it holds the maximum and no earlier position does (first-index argmax). Since no
        # value exceeds the maximum, "not the maximum" is written LESS: a NOT_EQUAL here would stay in float in
        # an int8 model, wrapped in DEQUANTIZE ops. The last position needs no test: some position must win.
        earlier_below = None
        placed = []
        for j, w in enumerate(windows):
            if j == len(windows) - 1:
                wins = earlier_below
            else:
                is_max = tf.equal(w, window_max)
                wins = is_max if earlier_below is None else tf.logical_and(is_max, earlier_below)
                below = tf.less(w, window_max)
                earlier_below = below if earlier_below is None else tf.logical_and(earlier_below, below)
            placed.append(tf.where(wins, updates, zeros))
        return tf.nn.depth_to_space(tf.concat(placed, axis=-1), k)

    def compute_output_shape(self, input_shape):
        updates_shape, pooled_shape = input_shape
        return (*pooled_shape[:3], updates_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
