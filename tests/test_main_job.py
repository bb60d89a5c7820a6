"""The README's main job, end to end: train ENet on shapes with the shipped recipe, then export with parity."""
import json
import os
import pathlib
import re
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
def test_enet_shapes_64x64_recipe_trains_and_exports(tmp_path):
    recipe = yaml.safe_load((REPO / "configs" / "enet_shapes_64x64.yaml").read_text())
    recipe["output_dir"] = str(tmp_path / "run")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))

    out = kerasseg_cli("train", "--config", "recipe.yaml", cwd=tmp_path)
    assert "val_mean_iou" in out and "saved: " in out
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    losses = [float(row.split(",")[header.index("loss")]) for row in history[1:]]
    assert len(losses) == recipe["train"]["epochs"] and losses[-1] < 0.8 * losses[0], losses
    # Issue 14's target is val mIoU >= 0.70 (every class >= 0.5) within the main job's ~5 minutes; the recipe
    # measured 0.733 (README, Results; 0.698-0.759 with 1200-1380 steps), so guard it with a margin for
    # thread-order round-off and run-to-run spread.
    best_miou = float(re.search(r"Best model \(val mIoU ([0-9.]+)\)", out).group(1))
    assert best_miou >= 0.65, best_miou
    assert (tmp_path / "run" / "overlays.png").stat().st_size > 10_000

    out = kerasseg_cli("export", str(tmp_path / "run" / "best.keras"), "--out", "export", cwd=tmp_path)
    rows = {row["format"]: row for row in json.loads((tmp_path / "export" / "parity.json").read_text())["rows"]}
    assert set(rows) == {"savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx"}
    assert all(row["passed"] for row in rows.values()), out
    assert rows["tflite-int8"]["argmax_agreement"] >= 0.95


def test_long_recipe_is_the_earlier_main_job_trained_longer():
    # README, Results: configs/enet_shapes_64x64_long.yaml reaches the 0.80 target (0.82 after ~25 minutes on 2 cores)
    # with the main job's recipe from before issue 14; its claim holds only while it is that recipe with more steps.
    from kerasseg.training import load_config

    main = load_config(REPO / "configs" / "enet_shapes_64x64.yaml")
    long = load_config(REPO / "configs" / "enet_shapes_64x64_long.yaml")
    steps = lambda c: c["train"]["epochs"] * c["train"]["steps_per_epoch"]  # noqa: E731
    assert steps(main) == 1320 and steps(long) == 6000
    # What issue 14 changed in the main job (README, Results).
    assert main["model"]["options"] == {"dropout_rates": [0.0, 0.0]} and long["model"]["options"] == {}
    main["model"]["options"] = {}
    main["train"].update(learning_rate=5e-3, warmup_steps=0, loss={"cross_entropy": 1.0}, intra_op_threads=None)
    for config in (main, long):
        config["train"].pop("epochs"), config["train"].pop("steps_per_epoch"), config.pop("output_dir")
        config["data"]["train"].pop("num_samples")
    assert main == long
