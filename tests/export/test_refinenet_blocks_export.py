"""RefineNet's own blocks (RCU, multi-resolution fusion, 5x5 chained residual pooling) through every export path.

The full RefineNet is ~100M parameters, too large to convert in the default suite; Light-Weight RefineNet (1x1
convs, no RCUs) is exported in tests/models/test_refinenet.py. This tiny two-path RefineNet block covers the
3x3-conv blocks: builtin TFLite ops only, and SavedModel / TFLite fp32 / ONNX equal to Keras.
"""
import numpy as np
import pytest

SIZE = (32, 48)


@pytest.fixture(scope="module")
def refine_block_model():
    import keras

    from kerasseg.layers import Resize, chained_residual_pooling, multi_resolution_fusion, residual_conv_units

    keras.utils.set_random_seed(0)
    image = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    fine = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="fine")(x)
    coarse = keras.layers.Conv2D(24, 3, strides=2, padding="same", name="coarse")(fine)
    paths = [residual_conv_units(fine, 2, "fine_rcu"), residual_conv_units(coarse, 2, "coarse_rcu")]
    fused = multi_resolution_fusion(paths, "fusion")
    pooled = chained_residual_pooling(fused, "crp")
    out = residual_conv_units(pooled, 1, "out_rcu")
    logits = keras.layers.Conv2D(4, 1, name="cls")(out)
    return keras.Model(image, Resize()([logits, image]), name="tiny_refinenet_block")


def test_every_format_matches_keras_and_tflite_is_builtin_only(refine_block_model, tmp_path):
    from kerasseg.export import assert_builtin_ops_only, export_model, tflite_ops

    images = np.random.default_rng(0).uniform(0, 255, (3, *SIZE, 3)).astype(np.float32)
    result = export_model(refine_block_model, tmp_path, formats=["savedmodel", "tflite-fp32", "tflite-int8", "onnx"],
                          input_size=SIZE, representative_images=list(images), parity_images=images)
    rows = {row["format"]: row for row in result["parity"]}
    for fmt in ("savedmodel", "tflite-fp32", "onnx"):
        assert rows[fmt]["passed"], rows[fmt]
    for fmt in ("tflite-fp32", "tflite-int8"):
        assert_builtin_ops_only(result["artifacts"][fmt])
    ops = tflite_ops(result["artifacts"]["tflite-fp32"])
    assert "MAX_POOL_2D" in ops and "RESIZE_BILINEAR" in ops
