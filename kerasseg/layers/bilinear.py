"""Bilinear-interpolation kernels for transposed convolutions (FCN's up-sampling layers)."""
import keras
import numpy as np


def bilinear_kernel_2d(size):
    """The [size, size] bilinear interpolation filter of Caffe's "bilinear" filler (FCN's `upsample_filt`).

    For a stride-f transposed conv with kernel 2f this is exact bilinear up-sampling by f (up to the borders).
    """
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    grid = np.arange(size, dtype=np.float64)
    line = 1 - np.abs(grid - center) / factor
    return np.outer(line, line).astype(np.float32)


@keras.saving.register_keras_serializable(package="kerasseg")
class BilinearUpsamplingKernel(keras.initializers.Initializer):
    """Initialises a `Conv2DTranspose` kernel [k, k, out, in] to per-channel bilinear up-sampling.

    Channel i of the output up-samples channel i of the input; all cross-channel taps are zero (as FCN's
    `surgery.interp`, which fills only the diagonal of the C x C kernel).
    """

    def __call__(self, shape, dtype=None):
        kh, kw, out_channels, in_channels = shape
        if kh != kw or out_channels != in_channels:
            raise ValueError(f"BilinearUpsamplingKernel needs a square kernel with as many output as input "
                             f"channels, got shape {tuple(shape)}.")
        kernel = np.zeros(shape, dtype=np.float32)
        filt = bilinear_kernel_2d(kh)
        for i in range(in_channels):
            kernel[:, :, i, i] = filt
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}
