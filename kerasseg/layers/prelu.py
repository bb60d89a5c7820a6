"""PReLU whose inference graph quantizes to int8 ops that XNNPACK runs.

LiteRT's XNNPACK delegate has no int8 PRELU kernel: an int8 ENet with Keras' PReLU splits into ~96 delegate
partitions with the 93 PReLUs run by the slow reference kernels between them, and runs 4-6x slower than its
fp32 version. Written as RELU, NEG, MINIMUM or MAXIMUM it does not delegate either (their int8 forms change
the quantization scale, which XNNPACK refuses). This layer writes the same function as

    prelu(x) = (1 + alpha) / 2 * x + (1 - alpha) / 2 * |x|,   |x| = leaky_relu(x, alpha=-1)

in inference: MUL by a per-channel constant, LEAKY_RELU and ADD, all three delegated by XNNPACK in int8 (and
in ONNX, LeakyRelu(alpha=-1)). In float it equals x for x > 0 and alpha * x otherwise, to round-off. Training
uses Keras' own formulation. Same class name, variables and config as `keras.layers.PReLU`, so a trained model's
weights load unchanged.

Reference: He et al., "Delving Deep into Rectifiers", ICCV 2015.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class PReLU(keras.layers.PReLU):
    """`keras.layers.PReLU` with an int8-delegable inference graph (see the module docstring).

    Args:
        Those of `keras.layers.PReLU` (alpha_initializer, alpha_regularizer, alpha_constraint, shared_axes).

    Returns:
        max(x, 0) + alpha * min(x, 0), per channel (or per the shared axes).
    """

    def call(self, inputs, training=None):
        if training:
            return super().call(inputs)
        alpha = tf.cast(self.alpha, inputs.dtype)
        return (1.0 + alpha) * 0.5 * inputs + (1.0 - alpha) * 0.5 * tf.nn.leaky_relu(inputs, alpha=-1.0)
