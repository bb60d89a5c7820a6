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


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_is_one_convolution_in_tflite(mode, tmp_path):
    """Every mode converts to a single CONV_2D (no SUB / MUL / strided slices), with Keras' values."""
    from kerasseg.export.tflite import convert_tflite, run_tflite, tflite_op_counts

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, ImagePreprocess(mode)(inputs))
    path = tmp_path / "preprocess.tflite"
    path.write_bytes(convert_tflite(model, "fp32"))
    assert tflite_op_counts(path) == {"CONV_2D": 1}
    x = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(run_tflite(path, x), model(x).numpy(), atol=1e-5)
