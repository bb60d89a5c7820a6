"""Batch normalization as one fused kernel (`FusedBatchNormV3`) in training.

Keras 3's `BatchNormalization` runs as separate kernels on the TensorFlow backend (moments, rsqrt, multiply,
add, and the same again in the gradient): in ENet's training step that is about a quarter of the kernel time.
`kerasseg.layers.BatchNormalization` computes the same function with TensorFlow's fused kernel and its fused
gradient. It is a drop-in subclass: the same arguments, config, variables (gamma, beta, moving_mean,
moving_variance, in that order), moving-statistics rule and class name as `keras.layers.BatchNormalization`.
The class name matters: Keras weight files address a layer's variables by its snake-cased class name
("batch_normalization_3/vars/0"), so a weights file saved with either class loads into the other. Exported
graphs (TFLite, ONNX) fold it into the convolutions as before.

Reference: Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", ICML 2015.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` trained with TensorFlow's `FusedBatchNormV3` kernel.

    Args:
        Those of `keras.layers.BatchNormalization` (axis, momentum, epsilon, center, scale, initializers, ...).

    Returns:
        A layer whose outputs, gradients and moving statistics equal Keras' to float32 round-off. The fused
        kernel handles training on 4-D inputs normalised over the last axis; inference and other cases (a mask,
        renorm, synchronized, another axis or rank) run Keras' own implementation.

    Keras updates the moving variance with the biased batch variance (divided by N); the fused kernel returns
    the unbiased one (divided by N - 1), so the update multiplies it back by (N - 1) / N.
    """

    def _fusable(self, inputs, training, mask):
        return (mask is None and not self.renorm and not self.synchronized and len(inputs.shape) == 4
                and self.axis in (-1, 3) and (training is None or isinstance(training, bool)))

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, training, mask)):
            return super().call(inputs, training=training, mask=mask)
        # As Keras: statistics in float32 even for float16 / bfloat16 activations.
        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
        y, mean, unbiased_variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=tf.constant([], tf.float32),
            variance=tf.constant([], tf.float32), epsilon=self.epsilon, exponential_avg_factor=1.0,
            data_format="NHWC", is_training=True,
        )
        count = tf.cast(tf.size(x, out_type=tf.int64) // channels, tf.float32)
        variance = unbiased_variance * tf.where(count > 1.0, (count - 1.0) / count, 1.0)
        moving_mean = tf.cast(self.moving_mean, tf.float32)
        moving_variance = tf.cast(self.moving_variance, tf.float32)
        self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)
