"""ImagePreprocess: the modes of keras.applications preprocessing."""
import keras
import numpy as np
import pytest

from kerasseg.layers import ImagePreprocess


def test_preprocess_modes_match_keras_applications():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(ImagePreprocess("caffe")(x),
                               keras.applications.resnet.preprocess_input(x.copy()), atol=1e-4)
    np.testing.assert_allclose(ImagePreprocess("tf")(x),
                               keras.applications.mobilenet_v2.preprocess_input(x.copy()), atol=1e-5)
    np.testing.assert_allclose(ImagePreprocess("torch")(x),
                               keras.applications.imagenet_utils.preprocess_input(x.copy(), mode="torch"),
                               atol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        ImagePreprocess("bgr")
