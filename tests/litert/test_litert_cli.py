"""`python -m kerasseg.litert.run` and `.benchmark` on tiny exported models, in subprocesses."""
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
    proc = _cli("kerasseg.litert.run", models["fp32"], str(models["dir"] / "a.png"), "--out", str(out))
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
    proc = _cli("kerasseg.litert.run", models[kind], str(models["dir"] / "big.png"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    mask = np.asarray(Image.open(out))
    assert mask.shape == (40, 30) and mask.max() < 3
    proc = _cli("kerasseg.litert.run", models[kind], str(models["dir"] / "big.png"), "--out", str(out), "--model-size")
    assert proc.returncode == 0 and np.asarray(Image.open(out)).shape == (16, 24)


def test_run_names_missing_files(models):
    proc = _cli("kerasseg.litert.run", str(models["dir"] / "none.tflite"), "x.png", "--out", "y.png")
    assert proc.returncode == 2 and "none.tflite" in proc.stderr
    proc = _cli("kerasseg.litert.run", models["fp32"], str(models["dir"] / "none.png"), "--out", "y.png")
    assert proc.returncode == 2 and "none.png" in proc.stderr


def test_folder_latency_and_miou(models):
    """A folder of images: one line per image with its latency, masks written, mIoU against label PNGs."""
    from PIL import Image

    images_dir, labels_dir, out = (models["dir"] / name for name in ("val_images", "val_labels", "val_masks"))
    images_dir.mkdir()
    labels_dir.mkdir()
    rng = np.random.default_rng(7)
    for i, size in enumerate([(16, 24), (20, 30), (33, 17)]):
        image = rng.integers(0, 256, (*size, 3)).astype(np.uint8)
        _write_png(images_dir / f"im{i}.png", image)
        # The label is the fp32 model's own prediction: mIoU 1 for fp32, a little less for int8.
        proc = _cli("kerasseg.litert.run", models["fp32"], str(images_dir / f"im{i}.png"), "--out",
                    str(labels_dir / f"im{i}.png"))
        assert proc.returncode == 0, proc.stderr[-2000:]
    label = np.asarray(Image.open(labels_dir / "im0.png")).copy()
    label[:2] = 255  # ignored rows
    Image.fromarray(label).save(labels_dir / "im0.png")
    proc = _cli("kerasseg.litert.run", models["fp32"], str(images_dir), "--out", str(out), "--labels", str(labels_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len([line for line in lines if line.endswith(" ms") and "im" in line]) == 3
    assert "3 images: mean" in proc.stdout and "mIoU 1.0000" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["im0.png", "im1.png", "im2.png"]
    assert np.asarray(Image.open(out / "im2.png")).shape == (33, 17)
    proc = _cli("kerasseg.litert.run", models["int8"], str(images_dir), "--labels", str(labels_dir))
    miou = float(proc.stdout.split("mIoU ")[1].split()[0])
    assert proc.returncode == 0 and 0.5 < miou <= 1.0, proc.stdout
    # A label that is missing, or holds a class the model does not have, is named.
    (labels_dir / "im1.png").unlink()
    proc = _cli("kerasseg.litert.run", models["fp32"], str(images_dir), "--labels", str(labels_dir))
    assert proc.returncode == 2 and "im1.png" in proc.stderr
    _write_png(labels_dir / "im1.png", np.full((20, 30), 7))
    proc = _cli("kerasseg.litert.run", models["fp32"], str(images_dir), "--labels", str(labels_dir))
    assert proc.returncode == 2 and "im1.png" in proc.stderr and "[7]" in proc.stderr


def test_benchmark_table_ratio_and_partitions(models):
    proc = _cli("kerasseg.litert.benchmark", models["fp32"], models["int8"], "--runs", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("tiny_fp32.tflite: input [1, 16, 24, 3] float32; ")
    assert lines[1].startswith("tiny_int8.tflite: input [1, 16, 24, 3] uint8; ")
    assert all("XNNPACK partition" in line and "not delegated:" in line for line in lines[:2])
    assert lines[3].split() == ["model", "threads", "runs", "mean", "ms", "p50", "ms", "p90", "ms", "min", "ms"]
    rows = [line.split() for line in lines[5:9]]
    assert [(r[0], r[1]) for r in rows] == [("tiny_fp32.tflite", "1"), ("tiny_int8.tflite", "1"),
                                            ("tiny_fp32.tflite", "2"), ("tiny_int8.tflite", "2")]
    for r in rows:
        mean, p50, p90, low = map(float, r[3:])
        assert 0 <= low <= p50 <= p90 and low <= mean and r[2] == "3"  # a tiny model can print 0.00 ms
    ratios = [line for line in lines if line.startswith("int8/fp32 mean latency at")]
    assert len(ratios) == 2 and all(float(line.split(": ")[1]) > 0 for line in ratios)


def test_benchmark_tells_same_named_files_apart(models, tmp_path):
    """Two files with one base name (an earlier and a later export) get distinct rows and one ratio each."""
    import shutil

    other = tmp_path / "before" / "tiny_int8.tflite"
    other.parent.mkdir()
    shutil.copy(models["int8"], other)
    proc = _cli("kerasseg.litert.benchmark", models["fp32"], models["int8"], str(other), "--runs", "2",
                "--threads", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    int8_label = f"{models['dir'].name}/tiny_int8.tflite"
    assert lines[1].startswith(f"{int8_label}: input") and lines[2].startswith("before/tiny_int8.tflite: input")
    assert [line.split()[0] for line in lines[6:9]] == [f"{models['dir'].name}/tiny_fp32.tflite", int8_label,
                                                        "before/tiny_int8.tflite"]
    ratios = [line for line in lines if line.startswith("int8/fp32 mean latency at 1 thread(s)")]
    assert [line.split("(")[-1] for line in ratios] == [f"{int8_label} / {models['dir'].name}/tiny_fp32.tflite)",
                                                       f"before/tiny_int8.tflite / {models['dir'].name}/tiny_fp32.tflite)"]


def test_xnnpack_partitions_name_ops_left_out(models):
    """The fp32 graph is one XNNPACK partition; every op is accounted for (delegated or left out)."""
    from kerasseg.litert.runtime import make_interpreter, tflite_op_counts, xnnpack_partitions

    fp32 = xnnpack_partitions(make_interpreter(models["fp32"]))
    assert fp32["partitions"] == 1 and fp32["left_out"] == {}
    assert fp32["delegated_ops"] == sum(tflite_op_counts(models["fp32"]).values())
    int8 = xnnpack_partitions(make_interpreter(models["int8"]))
    assert int8["partitions"] >= 1
    assert int8["delegated_ops"] + sum(int8["left_out"].values()) == sum(tflite_op_counts(models["int8"]).values())


def test_litert_side_needs_no_tensorflow(models):
    """With TensorFlow and Keras made unimportable, `import kerasseg` and the device tools still work."""
    code = ("import sys, runpy\n"
            "sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "sys.argv = ['run', sys.argv[1], sys.argv[2], '--out', sys.argv[3]]\n"
            "try:\n    runpy.run_module('kerasseg.litert.run', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if sys.modules[m] is not None} "
            "& {'tensorflow', 'keras', 'tf2onnx'}))\n")
    image = models["dir"] / "notf.png"
    _write_png(image, np.zeros((16, 24, 3)))
    proc = subprocess.run([sys.executable, "-c", code, models["int8"], str(image), str(models["dir"] / "notf_mask.png")],
                          capture_output=True, text=True, env=ENV, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_no_top_level_tflite_package():
    """setup.py installs only the kerasseg namespace: the PyPI `tflite` package name stays free."""
    import ast

    from setuptools import find_packages

    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "packages").value
    include = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "include"))
    packages = find_packages(str(ROOT), include=include)
    assert "kerasseg.litert" in packages
    assert {name.split(".")[0] for name in packages} == {"kerasseg"}
    assert not (ROOT / "tflite" / "__init__.py").exists()
