"""kerasseg.pretrained: shipped weights, `build_model(..., weights=...)`, the release record and model card."""
import json
import os
import pathlib

import numpy as np
import pytest
from PIL import Image

import kerasseg
from kerasseg import pretrained
from kerasseg.errors import UnknownNameError
from tests.helpers import run_python

REPO = pathlib.Path(__file__).resolve().parent.parent
CAMVID_ROOT = os.environ.get("KERASSEG_CAMVID_ROOT", str(REPO.parent / "shared" / "datasets" / "camvid"))
ENTRY = pretrained.get_pretrained("enet_camvid")
RELEASED = ENTRY.weights_path.is_file() and ENTRY.metrics_path.is_file()


@pytest.fixture
def weights_dirs(tmp_path, monkeypatch):
    """Points the shipped-weights and model-card folders at a temporary folder."""
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(pretrained, "CARDS_DIR", tmp_path / "cards")
    (tmp_path / "weights").mkdir()
    return tmp_path


def test_build_model_loads_shipped_weights_by_short_name(weights_dirs):
    source = kerasseg.build_model("enet", ENTRY.num_classes)
    source.save_weights(str(ENTRY.weights_path))
    model = kerasseg.build_model("enet", weights="camvid")
    assert model.output_shape[-1] == 11
    assert model.class_names == ENTRY.class_names and (model.palette == ENTRY.palette).all()
    for a, b in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    fixed = kerasseg.build_model("enet", weights="camvid", input_shape=(360, 480, 3))
    assert fixed.input_shape == (None, 360, 480, 3)


def test_build_model_weights_from_a_file(tmp_path):
    source = kerasseg.build_model("enet", 3)
    path = tmp_path / "mine.weights.h5"
    source.save_weights(str(path))
    model = kerasseg.build_model("enet", 3, weights=str(path))
    np.testing.assert_array_equal(model.get_weights()[0], source.get_weights()[0])
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        kerasseg.build_model("enet", 3, weights=str(tmp_path / "missing.weights.h5"))


def test_pretrained_errors_name_the_problem(weights_dirs):
    with pytest.raises(UnknownNameError, match="unknown weights for enet 'kitti'; valid: camvid, or the path"):
        kerasseg.build_model("enet", weights="kitti")
    with pytest.raises(UnknownNameError, match="unknown weights for fcn8s 'camvid'; valid: or the path"):
        kerasseg.build_model("fcn8s", weights="camvid")
    with pytest.raises(ValueError, match="num_classes=5 does not match the 11 classes"):
        kerasseg.build_model("enet", 5, weights="camvid")
    with pytest.raises(FileNotFoundError, match="have not been released"):
        kerasseg.build_model("enet", weights="camvid")
    with pytest.raises(ValueError, match="num_classes is required"):
        kerasseg.build_model("enet")
    with pytest.raises(UnknownNameError, match="unknown pretrained weights 'enet_kitti'; valid: enet_camvid"):
        pretrained.get_pretrained("enet_kitti")


def test_entry_carries_classes_palette_and_recipe():
    assert ENTRY.class_names[0] == "Sky" and len(ENTRY.class_names) == 11
    assert ENTRY.palette.shape == (11, 3)
    assert (REPO / ENTRY.recipe).is_file()
    assert pretrained.list_pretrained() == ["enet_camvid"]


def _tiny_camvid(root, frames=3):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for k in range(frames):
            Image.fromarray(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)).save(root / split / f"f{k}.png")
            label = rng.choice(np.array([0, 1, 3, 5, 8, 11], np.uint8), (360, 480))
            Image.fromarray(label, mode="L").save(root / f"{split}annot" / f"f{k}.png")
    return root


@pytest.mark.slow
def test_release_writes_weights_record_and_card(weights_dirs, tmp_path):
    """The release step on a random ENet and a 3-frame CamVid-layout fixture (real export, real LiteRT runs)."""
    root = _tiny_camvid(tmp_path / "camvid")
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "backup" / "training_metadata.json").write_text(json.dumps(
        {"epoch": 2, "best": 0.1, "seconds": 7200, "epochs": 300, "finished": False}))
    (run / "history.csv").write_text("epoch,val_mean_iou\n0,0.05\n1,0.1\n")
    stage1 = tmp_path / "stage1"
    (stage1 / "backup").mkdir(parents=True)
    (stage1 / "backup" / "training_metadata.json").write_text(json.dumps(
        {"epoch": 100, "seconds": 3600, "epochs": 100, "finished": True}))
    (run / "config.yaml").write_text(f"model:\n  name: enet\n  initial_weights: {stage1 / 'best.keras'}\n")
    kerasseg.build_model("enet", 11).save(str(run / "best.keras"))

    record = pretrained.release("enet_camvid", run / "best.keras", str(root), calibration_frames=2, threads=(1,))
    assert ENTRY.weights_path.is_file()
    assert json.loads(ENTRY.metrics_path.read_text()) == json.loads(json.dumps(record))
    assert record["val_images"] == 3 and record["training"] == {
        "epochs_completed": 2, "training_seconds": 7200, "epochs_scheduled": 300, "finished": False,
        "best_epoch": 2, "history_rows": 2, "total_training_seconds": 10800,
        "initial_weights": {"checkpoint": str(stage1 / "best.keras"), "epochs_completed": 100,
                            "training_seconds": 3600, "epochs_scheduled": 100, "finished": True}}
    for fmt in ("tflite_fp32", "tflite_fp16", "tflite_int8"):
        assert 0 <= record[fmt]["val_mean_iou"] <= 1 and len(record[fmt]["per_class_iou"]) == 11
        assert record[fmt]["xnnpack"]["partitions"] >= 1
    assert abs(record["tflite_fp32"]["delta_points"]) < 0.5
    assert record["tflite_int8"]["file_bytes"] < record["tflite_fp32"]["file_bytes"]
    card = ENTRY.card_path.read_text()
    assert card == pretrained.render_card(ENTRY, record)
    assert "3.0 h of training in all" in card and "| Road |" in card
    assert "Epochs completed: 2 of 300 (interim weights: the schedule is not finished)" in card
    assert f"Started from `{stage1 / 'best.keras'}` (a run of 100 of 100, 1.0 h)" in card
    reloaded = kerasseg.build_model("enet", weights="camvid")
    check, _ = pretrained._evaluate_keras(reloaded, kerasseg.data.camvid_dataset(str(root), "val"), 11,
                                          limit=pretrained.CHECK_FRAMES)
    assert check == pytest.approx(record["check_mean_iou"], abs=1e-6)


@pytest.mark.skipif(not RELEASED, reason="enet_camvid weights not released in this checkout")
def test_model_card_is_rendered_from_the_record():
    assert ENTRY.card_path.read_text() == pretrained.render_card(ENTRY, ENTRY.metrics())


@pytest.mark.skipif(not RELEASED, reason="enet_camvid weights not released in this checkout")
def test_shipped_weights_load_in_a_fresh_process():
    out = run_python("import kerasseg\nm = kerasseg.build_model('enet', weights='camvid')\n"
                       "print(m.output_shape[-1], m.count_params())\n")
    assert out.split()[-2:] == ["11", str(kerasseg.build_model("enet", 11).count_params())]


@pytest.mark.skipif(not RELEASED, reason="enet_camvid weights not released in this checkout")
@pytest.mark.skipif(not os.path.isfile(os.path.join(CAMVID_ROOT, "val.txt")),
                    reason="CamVid not found (set KERASSEG_CAMVID_ROOT)")
def test_shipped_weights_score_what_the_card_says():
    model = kerasseg.build_model("enet", weights="camvid")
    check, _ = pretrained._evaluate_keras(model, kerasseg.data.camvid_dataset(CAMVID_ROOT, "val"), 11,
                                          limit=pretrained.CHECK_FRAMES)
    record = ENTRY.metrics()
    assert check == pytest.approx(record["check_mean_iou"], abs=1e-4)
    assert f"= {record['check_mean_iou']:.4f}." in ENTRY.card_path.read_text()


@pytest.mark.skipif(not RELEASED, reason="enet_camvid weights not released in this checkout")
@pytest.mark.skipif(not os.path.isfile(os.path.join(CAMVID_ROOT, "val.txt")),
                    reason="CamVid not found (set KERASSEG_CAMVID_ROOT)")
def test_predict_cli_runs_the_shipped_weights_on_a_camvid_frame(tmp_path):
    """`kerasseg predict enet_camvid FRAME`: the mask matches the frame's label as well as the card's check."""
    from kerasseg.cli import main

    frame, annotation = kerasseg.data.camvid.camvid_pairs(CAMVID_ROOT, "val")[0]
    assert main(["predict", "enet_camvid", frame, "--out", str(tmp_path)]) == 0
    stem = os.path.splitext(os.path.basename(frame))[0]
    mask_png = Image.open(tmp_path / f"{stem}_mask.png")
    assert mask_png.mode == "P" and mask_png.getpalette()[:33] == ENTRY.palette.ravel().tolist()
    mask, label = np.asarray(mask_png), np.asarray(Image.open(annotation))
    labelled = label < ENTRY.num_classes
    assert (mask[labelled] == label[labelled]).mean() > 0.8  # pixel accuracy of a 0.64-mIoU model on a frame
