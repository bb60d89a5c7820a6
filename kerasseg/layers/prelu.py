"""PReLU whose int8 TFLite graph quantizes to ops that XNNPACK runs.

LiteRT's XNNPACK delegate has no int8 PRELU kernel: an int8 ENet with Keras' PReLU splits into ~96 delegate
partitions with the 93 PReLUs run by the slow reference kernels between them, and runs 4-6x slower than its
fp32 version. Written as RELU, NEG, MINIMUM or MAXIMUM it does not delegate either (their int8 forms change
the quantization scale, which XNNPACK refuses). Inside `int8_graph()` (what `kerasseg.export.tflite` uses when
it traces a model for int8) this layer writes the same function as

    prelu(y) = a * y + b * |y|,   a = (1 + alpha) / 2,  b = (1 - alpha) / 2,   |y| = leaky_relu(y, alpha=-1)

written, when every slope of the layer is below 0.99 (b > 0), as

    z = b * y;   prelu(y) = |z| + (a / b) * z

MUL by a per-channel constant (which the converter folds into a preceding convolution), LEAKY_RELU, MUL and ADD,
all delegated by XNNPACK in int8 (and in ONNX, LeakyRelu(alpha=-1)); a layer with a slope >= 0.99 keeps the first
form (two MULs). In float both equal x for x > 0 and alpha * x otherwise, to round-off. Measured on the stage-1
CamVid ENet encoder (whole val split through LiteRT, 64 calibration frames): float mIoU 0.6042; int8 with the
folded form 0.5995 (-0.47 points), with the two-MUL form 0.5905 (-1.38: each extra requantised intermediate adds
rounding), with Keras' PRELU op 0.5960 (-0.83, but ~96 delegate partitions); and the folded form runs 6% faster
than the two-MUL form (ENet 360x480, 1 thread). Everywhere else (training, Keras inference, SavedModel, ONNX,
fp32 / fp16 TFLite) the layer runs Keras' formulation, which the TFLite converter turns into one PRELU op that
XNNPACK runs in float (the int8 form costs fp32 about 20% more time). Same class name, variables and config as
`keras.layers.PReLU`, so a trained model's weights load unchanged.

Reference: He et al., "Delving Deep into Rectifiers", ICCV 2015.
"""
import contextlib
import contextvars

import keras
import numpy as np
import tensorflow as tf

#: Slopes below this use the folded int8 form (its a / b stays <= 199).
FOLDABLE_SLOPE = 0.99

_INT8_GRAPH = contextvars.ContextVar("kerasseg_prelu_int8_graph", default=False)


@contextlib.contextmanager
def int8_graph(enabled=True):
    """Within this context, `PReLU` layers called for inference trace their int8-delegable form.

    Args:
        enabled: False leaves Keras' form (so callers can write `with int8_graph(quantization == "int8")`).
    """
    token = _INT8_GRAPH.set(bool(enabled))
    try:
        yield
    finally:
        _INT8_GRAPH.reset(token)


@keras.saving.register_keras_serializable(package="kerasseg")
class PReLU(keras.layers.PReLU):
    """`keras.layers.PReLU` with an int8-delegable inference graph for int8 export (see the module docstring).

    Args:
        Those of `keras.layers.PReLU` (alpha_initializer, alpha_regularizer, alpha_constraint, shared_axes).

    Returns:
        max(x, 0) + alpha * min(x, 0), per channel (or per the shared axes).
    """

    def call(self, inputs, training=None):
        if training or not _INT8_GRAPH.get():
            return super().call(inputs)
        alpha = tf.cast(self.alpha, inputs.dtype)
        with tf.init_scope():  # the slopes' values, read eagerly while the export traces the graph
            foldable = bool(np.all(np.asarray(self.alpha) < FOLDABLE_SLOPE))
        if foldable:
            z = inputs * ((1.0 - alpha) * 0.5)
            return tf.nn.leaky_relu(z, alpha=-1.0) + z * ((1.0 + alpha) / (1.0 - alpha))
        return (1.0 + alpha) * 0.5 * inputs + (1.0 - alpha) * 0.5 * tf.nn.leaky_relu(inputs, alpha=-1.0)
