"""The README's main job, end to end: train ENet on shapes with the shipped recipe, then export with parity."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]


def kerasseg_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "kerasseg", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_enet_shapes_recipe_trains_and_exports(tmp_path):
    recipe = yaml.safe_load((REPO / "configs" / "enet_shapes.yaml").read_text())
    recipe["output_dir"] = str(tmp_path / "run")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))

    out = kerasseg_cli("train", "--config", "recipe.yaml", cwd=tmp_path)
    assert "val_mean_iou" in out and "saved: " in out
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    losses = [float(row.split(",")[header.index("loss")]) for row in history[1:]]
    assert len(losses) == recipe["train"]["epochs"] and losses[-1] < 0.8 * losses[0], losses
    # The target is val mIoU >= 0.80 within the main job's ~5 minutes; the recipe does not reach it yet
    # (about 0.17 after 7 epochs on 2 cores), so it is not asserted here: see the README's Results section.
    assert (tmp_path / "run" / "overlays.png").stat().st_size > 10_000

    out = kerasseg_cli("export", str(tmp_path / "run" / "best.keras"), "--out", "export", cwd=tmp_path)
    rows = {row["format"]: row for row in json.loads((tmp_path / "export" / "parity.json").read_text())["rows"]}
    assert set(rows) == {"savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx"}
    assert all(row["passed"] for row in rows.values()), out
    assert rows["tflite-int8"]["argmax_agreement"] >= 0.95
