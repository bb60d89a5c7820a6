"""PReLU that stays float32 inside an int8 TFLite model, where XNNPACK runs it fastest.

LiteRT's XNNPACK delegate has no int8 PRELU kernel: an int8 ENet with Keras' PReLU quantized splits into ~96
delegate partitions, the 93 PReLUs run by LiteRT's reference kernels between them, and runs 4-6x slower than
its fp32 version. Written as int8 ops that XNNPACK does delegate (`a * y + b * |y|`, or folded as `|z| + c * z`
with `z = b * y` merged into the convolution before it: MUL, LEAKY_RELU, MUL, ADD) the graph is one partition,
but each PReLU is then three requantising element-wise int8 ops, which XNNPACK runs 3-4x slower per element
than its float kernels (ENet 360x480, `python -m kerasseg.litert.profile`, 1 thread: 116 int8 MULs 9.9 ms, the
93 PReLUs' ADDs and LEAKY_RELUs ~5.1 ms, against 2.9 ms for the fp32 file's 93 PRELU ops), and the int8 ENet
was slower than its fp32.

So the layer declares `keep_float_in_int8 = True`: `kerasseg.export.tflite` keeps its ops float32 in an int8
model (selective quantization). The int8 convolution before it hands over through a DEQUANTIZE, the float
PRELU runs, a QUANTIZE hands back; XNNPACK delegates all three, so the graph stays in XNNPACK. Measured on the
CamVid ENet (360x480, whole val split through LiteRT, 64 calibration frames; float 65.91): int8 val mIoU 65.56
with the float PReLU, 65.74 with the folded int8 form (both within the 1-point bar). Speed, one interleaved run
of `python -m kerasseg.litert.benchmark` (median of 50, 1 / 2 threads, the CamVid training sharing the CPU):
int8 28.8 / 30.9 ms with the float PReLU (and the float max-unpooling, see `MaxUnpooling2D`) against 44.9 / 46.4
ms for the folded int8 form and 44.0 / 42.1 ms for fp32. Everywhere else the layer is `keras.layers.PReLU`
(same variables and config), so a trained model's weights load unchanged.

Reference: He et al., "Delving Deep into Rectifiers", ICCV 2015.
"""
import keras


@keras.saving.register_keras_serializable(package="kerasseg")
class PReLU(keras.layers.PReLU):
    """`keras.layers.PReLU` that stays float32 in int8 TFLite export (see the module docstring).

    Args:
        Those of `keras.layers.PReLU` (alpha_initializer, alpha_regularizer, alpha_constraint, shared_axes).

    Returns:
        max(x, 0) + alpha * min(x, 0), per channel (or per the shared axes).
    """

    #: `kerasseg.export.tflite` keeps the ops of this layer float32 in an int8 model.
    keep_float_in_int8 = True
