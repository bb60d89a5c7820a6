"""`kerasseg datasets ...` and recipes that name the real datasets, on a tiny CamVid-layout fixture."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasseg import cli
from kerasseg import data as kdata
from kerasseg.training import ConfigError, build_datasets, validate_config

CAMVID = "/work/shared/datasets/camvid"


def _camvid(root, n=3):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, f"{split}annot"))
        for k in range(n):
            Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(
                os.path.join(root, split, f"f{k}.png"))
            Image.fromarray(rng.choice(np.array([0, 3, 3, 8, 11], np.uint8), (16, 24)), mode="L").save(
                os.path.join(root, f"{split}annot", f"f{k}.png"))
    return root


def test_datasets_stats_prints_table_and_writes_json(tmp_path, capsys):
    root = _camvid(str(tmp_path / "camvid"))
    out = tmp_path / "stats.json"
    assert cli.main(["datasets", "stats", "--dataset", "camvid", "--root", root, "--split", "train",
                     "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Road" in printed and "enet w" in printed and "medfreq w" in printed
    summary = json.loads(out.read_text())
    labels = np.stack([label for _, label in kdata.camvid_dataset(root, "train").as_numpy_iterator()])
    assert summary["num_images"] == 3 and summary["ignored_pixels"] == (labels == 255).sum()
    by_name = {c["name"]: c for c in summary["classes"]}
    assert by_name["Road"]["pixels"] == (labels == 3).sum() and by_name["Sky"]["pixels"] == (labels == 0).sum()
    assert by_name["Pole"]["pixels"] == 0 and by_name["Pole"]["median_frequency_weight"] == 0.0
    p_road = by_name["Road"]["frequency"]
    assert by_name["Road"]["enet_weight"] == pytest.approx(1 / np.log(1.02 + p_road), rel=1e-5)


def test_datasets_tfrecord_then_recipe_reads_the_shards(tmp_path, capsys):
    root = _camvid(str(tmp_path / "camvid"))
    assert cli.main(["datasets", "tfrecord", "--dataset", "camvid", "--root", root, "--split", "val",
                     "--out", str(tmp_path / "rec" / "val"), "--shards", "2"]) == 0
    assert "3 samples written to 2 shard(s)" in capsys.readouterr().out
    recipe = validate_config({
        "model": {"name": "enet"},
        "data": {"dataset": "tfrecord", "class_names": list(kdata.CAMVID_CLASSES),
                 "train": {"files": str(tmp_path / "rec" / "val-*")},
                 "val": {"files": str(tmp_path / "rec" / "val-*")}},
    })
    splits = build_datasets(recipe)
    assert splits.train.cardinality().numpy() == 3 and splits.num_classes == 11
    expected = [label for _, label in kdata.camvid_dataset(root, "val").as_numpy_iterator()]
    for (_, label), label0 in zip(splits.val.as_numpy_iterator(), expected):
        np.testing.assert_array_equal(label, label0)


def test_named_dataset_recipe_and_skip_option(tmp_path):
    root = _camvid(str(tmp_path / "camvid"))
    (tmp_path / "camvid" / "train" / "f1.png").write_bytes(b"broken")
    recipe = validate_config({"model": {"name": "enet"},
                              "data": {"dataset": "camvid", "root": root, "on_error": "skip"}})
    splits = build_datasets(recipe)
    assert splits.class_names == list(kdata.CAMVID_CLASSES) and splits.palette.shape == (11, 3)
    assert len(list(splits.train)) == 2 and len(list(splits.val)) == 3
    assert splits.skipped.count == 1 and "f1.png" in splits.skipped.problems[0]
    recipe["data"]["on_error"] = "raise"
    with pytest.raises(tf.errors.InvalidArgumentError, match="f1.png: not a PNG/JPEG/BMP/GIF image"):
        list(build_datasets(recipe).train)


@pytest.mark.parametrize("data, message", [
    ({"dataset": "camvid"}, "'data.root'"),
    ({"dataset": "kitti"}, "'data.dataset' must be one of"),
    ({"on_error": "ignore"}, "'data.on_error'"),
    ({"rotation_degrees": 400}, "'data.rotation_degrees'"),
    ({"photometric": "yes"}, "'data.photometric'"),
])
def test_bad_data_sections_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"model": {"name": "enet"}, "data": data}, source="r.yaml")


def test_real_camvid_statistics_if_present(tmp_path):
    if not os.path.isfile(os.path.join(CAMVID, "val.txt")):
        pytest.skip(f"CamVid not found at {CAMVID}")
    stats = kdata.pixel_statistics(kdata.camvid_dataset(CAMVID, "val").take(4), 11)
    assert stats.num_images == 4 and stats.counts.sum() + stats.ignored_pixels == 4 * 360 * 480
