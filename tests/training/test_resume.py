"""Resumable training: SIGKILL / SIGINT of a real `kerasseg train`, atomic files, NaN stops."""
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import yaml

from kerasseg.training import resume

RECIPE = {
    "model": {"name": "enet"},
    "data": {"dataset": "shapes", "image_size": [32, 32], "train": {"num_samples": 64, "seed": 1},
             "val": {"num_samples": 4, "seed": 2}, "batch_size": 2, "scale_range": [0.75, 1.25]},
    "train": {"epochs": 2, "steps_per_epoch": 4, "learning_rate": 5e-3, "checkpoint_every_steps": 1,
              "overlay_samples": 0, "seed": 0},
}


def _start(recipe_path, *extra):
    env = {**os.environ, "TF_DETERMINISTIC_OPS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kerasseg", "train", "--config", str(recipe_path), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_for_step(proc, metadata_path, predicate, timeout=1800):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"training ended before the step was reached:\n{proc.stdout.read()}")
        try:
            record = json.loads(metadata_path.read_text())
        except (OSError, ValueError):
            record = None
        if record and predicate(record):
            return record
        time.sleep(0.02)
    raise AssertionError("timed out waiting for a backup")


def _weights(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                     else None)
    return arrays


@pytest.mark.slow
def test_sigkill_and_sigint_then_resume_match_an_uninterrupted_run(tmp_path):
    recipes = {}
    for name in ("straight", "killed"):
        recipes[name] = tmp_path / f"{name}.yaml"
        recipes[name].write_text(yaml.safe_dump({**RECIPE, "output_dir": str(tmp_path / name)}))
    straight = _start(recipes["straight"])
    killed = _start(recipes["killed"])
    metadata = tmp_path / "killed" / "backup" / "training_metadata.json"
    # SIGKILL in the middle of the second epoch, right after a backup (as a pre-empted VM or an OOM kill).
    record = _wait_for_step(killed, metadata, lambda r: r["epoch"] == 1 and r["step_in_epoch"] > 0)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    best_before = json.loads((tmp_path / "killed" / "best.json").read_text())["val_mean_iou"]
    assert not list((tmp_path / "killed").rglob("*.partial*"))

    # Re-run: resumes from the backup; Ctrl-C (SIGINT) a step later, still inside the second epoch (SIGTERM:
    # tests/training/test_distributed.py).
    resumed = _start(recipes["killed"])
    _wait_for_step(resumed, metadata, lambda r: r["global_step"] > record["global_step"])
    resumed.send_signal(signal.SIGINT)
    out = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 130, out
    assert f"Resuming {tmp_path / 'killed'}: epoch 2 of 2, step {record['step_in_epoch']} of 4" in out, out
    assert "SIGINT: stopped at step" in out and "Resume with: kerasseg train --config" in out, out
    assert "Traceback" not in out
    best_mid = json.loads((tmp_path / "killed" / "best.json").read_text())["val_mean_iou"]

    final = _start(recipes["killed"])
    out = final.communicate(timeout=1800)[0]
    assert final.returncode == 0, out
    assert "Resuming" in out, out
    assert straight.wait(timeout=1800) == 0, straight.stdout.read()

    end = json.loads(metadata.read_text())
    assert end["finished"] and end["global_step"] == 8 and end["epoch"] == 2
    best_after = json.loads((tmp_path / "killed" / "best.json").read_text())["val_mean_iou"]
    assert best_before <= best_mid <= best_after
    a = _weights(tmp_path / "straight" / "backup" / "latest.weights.h5")
    b = _weights(tmp_path / "killed" / "backup" / "latest.weights.h5")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # CSV appended, not truncated: one row per epoch, the interrupted ones included once each.
    rows = (tmp_path / "killed" / "history.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch") and [r.split(",")[0] for r in rows[1:]] == ["0", "1"], rows

    # A finished run is not retrained.
    again = _start(recipes["killed"])
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0 and "holds a finished run" in out, out


def test_atomic_write_keeps_the_old_file_when_the_writer_dies(tmp_path):
    path = tmp_path / "best.keras"
    path.write_bytes(b"good")

    def dies(temporary):
        pathlib.Path(temporary).write_bytes(b"")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        resume.write_atomic(path, dies)
    assert path.read_bytes() == b"good"
    assert resume.atomic_path(tmp_path / "latest.weights.h5").name == "latest.partial.weights.h5"


def test_nan_loss_stops_naming_the_step_and_the_last_backup(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    state = resume.RunState()
    saved = []
    tracker = resume.ResumableTraining(tmp_path, state, epochs=1, steps_per_epoch=6, every_steps=2,
                                       monitor="val_loss", save_best=saved.append, signals=resume.SignalFlag(),
                                       resume_command="kerasseg train --config r.yaml")
    x = np.ones((6, 4), np.float32)
    x[3] = np.nan  # the fourth batch (global step 4) makes the loss NaN
    with pytest.raises(resume.TrainingDiverged, match=r"NaN|nan") as info:
        model.fit(x, np.zeros((6, 2), np.float32), batch_size=1, epochs=1, callbacks=[tracker], verbose=0,
                  shuffle=False)
    message = str(info.value)
    assert "at step 4" in message and f"{tmp_path / 'backup' / 'latest.weights.h5'} (step 2)" in message, message
    assert not saved and not (tmp_path / "best.keras").exists()
    assert resume.read_metadata(tmp_path / "backup")["global_step"] == 2


def test_epoch_level_backup_of_the_first_camvid_runs_is_resumed(tmp_path):
    """The {"epoch", "best"} backup (model.save_weights + training_metadata.json) continues at the next epoch."""
    from kerasseg.training.fit import _restore

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), batch_size=2, epochs=2, verbose=0)  # 2 epochs of 4 steps
    (tmp_path / "backup").mkdir()
    model.save_weights(str(tmp_path / "backup" / "latest.weights.h5"))
    (tmp_path / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 2, "best": 0.25}))
    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    fresh.compile(optimizer="adam", loss="mse")
    fresh.optimizer.build(fresh.trainable_variables)
    state = _restore(fresh, tmp_path, resume.read_metadata(tmp_path / "backup"), steps_per_epoch=4)
    assert (state.epoch, state.step_in_epoch, state.global_step, state.best) == (2, 0, 8, 0.25)
    assert state.stream_start == 8  # its stream is not kerasseg's: not replayed
    for a, b in zip(model.weights + model.optimizer.variables, fresh.weights + fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not math.isinf(state.best)


def test_backup_keeps_weights_optimizer_and_dropout_random_stream(tmp_path):
    """save_weights leaves out SeedGenerator states; the backup keeps them, so dropout masks continue exactly."""
    from kerasseg.training.fit import _restore

    def model_with_dropout():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8), keras.layers.Dropout(0.5),
                                  keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        return model

    x, y = np.ones((8, 8), np.float32), np.zeros((8, 2), np.float32)
    model = model_with_dropout()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    resume.save_backup(model, tmp_path / "backup", resume.RunState(4, 1, 0, 0.3), epochs=2, steps_per_epoch=4)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)  # the uninterrupted second epoch

    fresh = model_with_dropout()
    fresh.optimizer.build(fresh.trainable_variables)
    state = _restore(fresh, tmp_path, resume.read_metadata(tmp_path / "backup"), steps_per_epoch=4)
    assert (state.global_step, state.epoch, state.step_in_epoch, state.best) == (4, 1, 0, 0.3)
    assert resume.rng_variables(fresh)
    fresh.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_mid_epoch_replays_the_stream_once_and_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    import threading

    from kerasseg import data as kdata
    from kerasseg.training import fit

    def recipe(name):
        return {**RECIPE, "train": {**RECIPE["train"], "epochs": 2, "steps_per_epoch": 3},
                "output_dir": str(tmp_path / name)}

    straight = fit(recipe("straight"), verbose=0).model
    # Stop a run inside its first epoch (SIGTERM, honoured after the current step), so that resuming it takes
    # both phases: the rest of that epoch, then the next one.
    metadata = tmp_path / "stopped" / "backup" / "training_metadata.json"

    def stop_after_the_first_step():
        _wait_for_step(None, metadata, lambda r: r["global_step"] >= 1, timeout=600)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_after_the_first_step, daemon=True)
    stopper.start()
    with pytest.raises(resume.TrainingInterrupted, match="SIGTERM"):
        fit(recipe("stopped"), verbose=0)
    stopper.join()
    stopped_at = json.loads(metadata.read_text())
    assert stopped_at["epoch"] == 0 and 0 < stopped_at["step_in_epoch"] < 3, stopped_at

    pipelines = []
    train_pipeline = kdata.train_pipeline
    monkeypatch.setattr(kdata, "train_pipeline", lambda *a, **k: pipelines.append(1) or train_pipeline(*a, **k))
    resumed = fit(recipe("stopped"), verbose=0).model
    assert len(pipelines) == 1  # one stream for both phases: replayed once
    assert json.loads(metadata.read_text())["global_step"] == 6
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
