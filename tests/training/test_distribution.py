"""Mixed precision through the recipe (several devices: tests/training/test_distributed.py)."""
import keras
import numpy as np
import pytest

from kerasseg.training import fit


def _tiny(tmp_path, **train):
    return {
        "model": {"name": "enet"},
        "data": {"dataset": "shapes", "image_size": [32, 32], "train": {"num_samples": 16, "seed": 1},
                 "val": {"num_samples": 4, "seed": 2}, "batch_size": 4, "scale_range": [1.0, 1.0]},
        "train": {"epochs": 1, "steps_per_epoch": 2, "learning_rate": 5e-3, "overlay_samples": 0, **train},
        "output_dir": str(tmp_path / "run"),
    }


@pytest.mark.slow
def test_mixed_bfloat16_recipe_trains_with_finite_loss_and_saves_float32(tmp_path):
    result = fit(_tiny(tmp_path, mixed_precision=True), verbose=0)  # CPU: true means mixed_bfloat16
    assert np.isfinite(result.history["loss"]).all() and np.isfinite(result.history["val_loss"]).all()
    assert keras.mixed_precision.global_policy().name == "float32"  # the global policy is restored
    reloaded = keras.saving.load_model(result.best_model_path, compile=False)
    assert {w.dtype for w in reloaded.weights} == {"float32"}
    assert all(layer.dtype_policy.name == "float32" for layer in reloaded._flatten_layers())
    logits = reloaded(np.zeros((1, 32, 32, 3), np.float32))
    assert logits.dtype == "float32"


def test_mixed_precision_model_keeps_logits_float32():
    from kerasseg import build_model
    from kerasseg.training.fit import _float32_outputs, mixed_precision_policy

    assert mixed_precision_policy(True) == "mixed_bfloat16"  # no GPU here
    assert mixed_precision_policy("mixed_float16") == "mixed_float16" and mixed_precision_policy(False) is None
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model("enet", 3, input_shape=(None, None, 3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    _float32_outputs(model)
    assert model.layers[5].compute_dtype == "bfloat16"
    logits = model(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32), training=True)
    assert logits.dtype == "float32" and np.isfinite(np.asarray(logits)).all()
