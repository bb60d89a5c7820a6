"""`python -m tflite.run` and `python -m tflite.benchmark` on tiny exported models, in subprocesses."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=ENV, cwd=str(ROOT),
                          timeout=120)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import keras

    from kerasseg.export.tflite import export_tflite

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 24, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(x), name="tiny")
    out = tmp_path_factory.mktemp("litert")
    reps = [np.random.default_rng(i).uniform(0, 255, (16, 24, 3)).astype(np.float32) for i in range(4)]
    return {
        "model": model,
        "fp32": export_tflite(model, out / "tiny_fp32.tflite"),
        "int8": export_tflite(model, out / "tiny_int8.tflite", "int8", representative_images=reps),
        "dir": out,
    }


def _write_png(path, array):
    from PIL import Image

    Image.fromarray(array.astype(np.uint8)).save(path)


def test_run_at_model_size_matches_keras(models):
    from PIL import Image

    image = np.random.default_rng(5).integers(0, 256, (16, 24, 3)).astype(np.uint8)
    _write_png(models["dir"] / "a.png", image)
    out = models["dir"] / "a_mask.png"
    proc = _cli("tflite.run", models["fp32"], str(models["dir"] / "a.png"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout
    mask = np.asarray(Image.open(out))
    expected = models["model"](image[None].astype(np.float32)).numpy()[0].argmax(-1)
    assert mask.shape == (16, 24) and mask.dtype == np.uint8
    assert np.mean(mask == expected) > 0.99


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_run_resizes_any_image(models, kind):
    from PIL import Image

    _write_png(models["dir"] / "big.png", np.random.default_rng(6).integers(0, 256, (40, 30, 3)))
    out = models["dir"] / f"big_{kind}.png"
    proc = _cli("tflite.run", models[kind], str(models["dir"] / "big.png"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    mask = np.asarray(Image.open(out))
    assert mask.shape == (40, 30) and mask.max() < 3
    proc = _cli("tflite.run", models[kind], str(models["dir"] / "big.png"), "--out", str(out), "--model-size")
    assert proc.returncode == 0 and np.asarray(Image.open(out)).shape == (16, 24)


def test_run_names_missing_files(models):
    proc = _cli("tflite.run", str(models["dir"] / "none.tflite"), "x.png", "--out", "y.png")
    assert proc.returncode == 2 and "none.tflite" in proc.stderr
    proc = _cli("tflite.run", models["fp32"], str(models["dir"] / "none.png"), "--out", "y.png")
    assert proc.returncode == 2 and "none.png" in proc.stderr


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_benchmark_table(models, kind):
    proc = _cli("tflite.benchmark", models[kind], "--runs", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert "tiny_" in lines[0] and ("uint8" if kind == "int8" else "float32") in lines[0]
    assert lines[1].split() == ["threads", "runs", "mean", "ms", "p50", "ms", "p90", "ms", "min", "ms"]
    rows = [line.split() for line in lines[3:]]
    assert [r[0] for r in rows] == ["1", "2"] and all(r[1] == "3" for r in rows)
    for r in rows:
        mean, p50, p90, low = map(float, r[2:])
        assert 0 < low <= p50 <= p90 and low <= mean


def test_litert_side_needs_no_tensorflow():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, tflite.run, tflite.benchmark; "
         "print(any(m.split('.')[0] in ('tensorflow', 'kerasseg') for m in sys.modules))"],
        capture_output=True, text=True, env=ENV, cwd=str(ROOT), timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
