"""The bilinear up-sampling kernel of FCN."""
import numpy as np
import pytest

from kerasseg.layers import BilinearUpsamplingKernel, bilinear_kernel_2d


def test_bilinear_kernel_matches_fcn_upsample_filt():
    np.testing.assert_allclose(bilinear_kernel_2d(4)[0], [0.0625, 0.1875, 0.1875, 0.0625])
    np.testing.assert_allclose(bilinear_kernel_2d(3)[1], [0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="square kernel"):
        BilinearUpsamplingKernel()((4, 4, 2, 3))
