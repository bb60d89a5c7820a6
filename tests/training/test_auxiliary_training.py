"""How the trainer handles models with auxiliary (deep-supervision) outputs, on a tiny two-output model."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.models.auxiliary import (auxiliary_losses, has_auxiliary_outputs, inference_model, output_names,
                                       repeat_labels)
from kerasseg.training import ConfigError, validate_config
from kerasseg.training import resume


def tiny_model(auxiliary=True):
    image = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    logits = keras.layers.Conv2D(3, 1, name="head")(x)
    if not auxiliary:
        return keras.Model(image, logits, name="tiny")
    return keras.Model(image, {"logits": logits, "aux_2": keras.layers.Conv2D(3, 1, name="aux")(x)}, name="tiny")


def test_output_names_losses_and_labels():
    model = tiny_model()
    assert has_auxiliary_outputs(model) and output_names(model) == ["logits", "aux_2"]
    loss = SegmentationCrossEntropy(3)
    losses, weights = auxiliary_losses(model, loss, aux_loss_weight=0.25)
    assert losses == {"logits": loss, "aux_2": loss} and weights == {"logits": 1.0, "aux_2": 0.25}
    image, labels = repeat_labels(model)(tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 4], tf.int32))
    assert set(labels) == {"logits", "aux_2"}
    single = tiny_model(auxiliary=False)
    assert not has_auxiliary_outputs(single) and inference_model(single) is single
    with pytest.raises(ValueError, match="single output"):
        auxiliary_losses(single, loss)
    with pytest.raises(ValueError, match="aux_loss_weight"):
        auxiliary_losses(model, loss, aux_loss_weight=-1)


def test_checkpoint_saves_the_inference_model(tmp_path):
    model = tiny_model()
    model.compile(optimizer="adam")
    callback = resume.ResumableTraining(
        tmp_path, resume.RunState(), epochs=2, steps_per_epoch=1, every_steps=1, monitor="val_logits_mean_iou",
        save_best=lambda path: inference_model(model).save(path), signals=resume.SignalFlag(), resume_command="")
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_logits_mean_iou": 0.5})
    saved = keras.saving.load_model(tmp_path / "best.keras")
    assert saved.name == "tiny" and len(saved.outputs) == 1
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(saved(x).numpy(), model(x)["logits"].numpy(), atol=1e-6)
    before = (tmp_path / "best.keras").stat().st_mtime_ns
    callback.on_epoch_end(1, {"val_logits_mean_iou": 0.4})  # worse: best.keras is kept
    assert (tmp_path / "best.keras").stat().st_mtime_ns == before and callback.state.best == 0.5


def test_recipe_aux_loss_weight_is_validated():
    config = validate_config({"model": {"name": "sfnet"}})
    assert config["train"]["aux_loss_weight"] == 0.4
    with pytest.raises(ConfigError, match="aux_loss_weight"):
        validate_config({"model": {"name": "sfnet"}, "train": {"aux_loss_weight": -0.1}})
