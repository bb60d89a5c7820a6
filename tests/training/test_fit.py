import csv
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.training import evaluate_model, fit, make_optimizer


def tiny_recipe(tmp_path, **train):
    return {
        "model": {"name": "enet"},
        "data": {"dataset": "shapes", "image_size": [32, 32], "train": {"num_samples": 32, "seed": 1},
                 "val": {"num_samples": 8, "seed": 2}, "batch_size": 8, "scale_range": [1.0, 1.25]},
        "train": {"epochs": 2, "learning_rate": 5e-3, "overlay_samples": 2, **train},
        "export": {"input_size": [32, 32]},
        "output_dir": str(tmp_path / "run"),
    }


def test_fit_writes_checkpoint_logs_and_plots(tmp_path):
    result = fit(tiny_recipe(tmp_path, class_weighting="enet"), verbose=0)
    run = pathlib.Path(result.output_dir)
    for name in ("best.keras", "config.yaml", "history.csv", "overlays.png", "history.png"):
        assert (run / name).is_file(), name
    assert any((run / "logs").rglob("events.out.tfevents.*"))
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and "val_mean_iou" in rows[0]
    assert result.val_mean_iou == pytest.approx(max(float(r["val_mean_iou"]) for r in rows), abs=1e-4)
    assert len(result.per_class_iou) == len(result.class_names) == result.model.output_shape[-1]
    # best.keras carries the class names and palette (export / predict / evaluate need no recipe for them)
    assert result.model.class_names == list(result.class_names) and result.model.palette.shape == (
        len(result.class_names), 3)
    # The recipe saved beside the model is complete: num_classes and class names are filled in.
    saved = kerasseg.training.load_config(run / "config.yaml")
    assert saved["model"]["num_classes"] == len(result.class_names)


def test_evaluate_model_keeps_the_first_samples_of_its_pass():
    dataset = kerasseg.data.shapes_dataset(7, image_size=(32, 32), seed=3).batch(3)
    num_classes = len(kerasseg.data.SHAPES_CLASSES)
    model = kerasseg.build_model("enet", num_classes, input_shape=(32, 32, 3))
    alone = evaluate_model(model, dataset, num_classes)
    metric, (images, labels, predictions) = evaluate_model(model, dataset, num_classes, keep=5)  # spans 2 batches
    assert float(metric.result()) == float(alone.result())
    expected_images, expected_labels = next(iter(dataset.unbatch().batch(5)))
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    # The same batches through Keras' predict: equal up to round-off ties (the batch shapes match, 3 + 3 + 1).
    expected = np.concatenate([np.argmax(model.predict(x, verbose=0), -1) for x, _ in dataset])[:5]
    assert predictions.shape == expected.shape and (predictions == expected).mean() >= 0.999
    assert len(evaluate_model(model, dataset, num_classes, keep=20)[1][0]) == 7  # at most the dataset


def test_recipe_thread_pools_reach_configure(tmp_path, monkeypatch):
    calls = []
    import importlib

    fit_module = importlib.import_module("kerasseg.training.fit")
    configure = fit_module.configure
    monkeypatch.setattr(fit_module, "configure", lambda *args: calls.append(args) or configure(*args))
    fit(tiny_recipe(tmp_path, epochs=1, intra_op_threads=1, inter_op_threads=2), verbose=0)
    assert calls == [(1, 2)]


def test_overfits_one_batch():
    images, labels = next(iter(kerasseg.data.shapes_dataset(4, image_size=(32, 32), seed=3).batch(4)))
    num_classes = len(kerasseg.data.SHAPES_CLASSES)
    model = kerasseg.build_model("enet", num_classes, input_shape=(32, 32, 3))
    model.compile(optimizer=make_optimizer(5e-3, 60), loss=SegmentationCrossEntropy(num_classes))
    before = model.evaluate(images, labels, verbose=0)
    model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=60, epochs=1, verbose=0)
    after = model.evaluate(images, labels, verbose=0)
    assert after < 0.3 * before, (before, after)


def test_crop_not_multiple_of_model_divisor_is_refused(tmp_path):
    recipe = tiny_recipe(tmp_path)
    recipe["data"]["crop_size"] = [36, 36]
    with pytest.raises(ValueError, match="crop_size height 36 is not a multiple of 8"):
        fit(recipe, verbose=0)


def test_poly_schedule_reaches_zero():
    optimizer = make_optimizer(1e-3, 100, weight_decay=1e-4)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(50)) == pytest.approx(1e-3 * 0.5 ** 0.9, rel=1e-5)
    assert float(schedule(100)) == 0.0
    assert isinstance(optimizer, keras.optimizers.Adam)
