import json
import math
import os

import numpy as np
import pytest

from kerasseg.export import FORMATS, artifact_path, check_parity, export_model, format_parity_table, mean_iou


def _rows(bundle):
    return {row["format"]: row for row in bundle["parity"]}


def test_bundle_files(bundle):
    out = bundle["out_dir"]
    assert bundle["artifacts"] == {
        "savedmodel": os.path.join(out, "savedmodel", "enet", "1"),
        "tflite-fp32": os.path.join(out, "enet_fp32.tflite"),
        "tflite-fp16": os.path.join(out, "enet_fp16.tflite"),
        "tflite-int8": os.path.join(out, "enet_int8.tflite"),
        "onnx": os.path.join(out, "enet.onnx"),
    }
    for fmt, path in bundle["artifacts"].items():
        assert os.path.exists(path), fmt
        assert artifact_path(out, "enet", fmt) == path
    assert bundle["parity_json"] == os.path.join(out, "parity.json")


def test_exact_formats_pass_strictly(bundle):
    rows = _rows(bundle)
    assert set(rows) == set(FORMATS)
    for fmt in ("savedmodel", "tflite-fp32", "onnx"):
        assert rows[fmt]["max_abs_diff"] <= 1e-4, rows[fmt]
        assert rows[fmt]["argmax_agreement"] > 0.999, rows[fmt]
        assert rows[fmt]["passed"] is True


def test_quantized_formats_are_sane(bundle, enet, images):
    rows = _rows(bundle)
    fp16, int8 = rows["tflite-fp16"], rows["tflite-int8"]
    # Untrained model: logits are close together, so these are loose sanity bounds relative to the logits' range,
    # not the release bars (those are checked on the trained demo model). Max-unpooling is discontinuous: fp16
    # rounding can move a window's argmax and with it a whole value, so a few logits may differ by a lot.
    logit_range = float(np.ptp(enet(images, training=False).numpy()))
    assert 0 < fp16["max_abs_diff"] < 0.5 * logit_range and fp16["argmax_agreement"] > 0.9
    assert 0 < int8["max_abs_diff"] < 0.5 * logit_range and int8["argmax_agreement"] > 0.4
    assert fp16["passed"] == (fp16["argmax_agreement"] >= 0.99)
    assert int8["passed"] == (int8["argmax_agreement"] >= 0.95)


def test_miou_reported_per_format(bundle):
    for row in bundle["parity"]:
        assert 0.0 <= row["miou"] <= 1.0 and 0.0 <= row["keras_miou"] <= 1.0
    rows = _rows(bundle)
    assert math.isclose(rows["tflite-fp32"]["miou"], rows["tflite-fp32"]["keras_miou"], abs_tol=1e-6)


def test_parity_json_and_table(bundle):
    with open(bundle["parity_json"]) as f:
        saved = json.load(f)
    assert saved["rows"] == json.loads(json.dumps(bundle["parity"]))
    assert saved["all_passed"] == all(r["passed"] for r in bundle["parity"])
    table = format_parity_table(bundle["parity"])
    lines = table.splitlines()
    assert len(lines) == 2 + len(FORMATS)
    assert lines[0].split()[0] == "format" and set(lines[1]) <= {"-", " "}
    for fmt in FORMATS:
        assert any(line.startswith(fmt + " ") for line in lines[2:]), fmt
    # Columns are aligned: every row's "passed" column starts at the same offset.
    offset = lines[0].index("passed")
    assert all(line[offset:].strip() in ("passed", "yes", "NO") for line in lines if not line.startswith("-"))


def test_parity_detects_a_different_model(bundle, images):
    import kerasseg

    other = kerasseg.build_model("enet", 4)  # fresh random weights
    (row,) = check_parity(other, {"onnx": bundle["artifacts"]["onnx"]}, images)
    assert row["max_abs_diff"] > 1e-2 and row["passed"] is False


def test_unknown_format_is_named(enet, tmp_path):
    with pytest.raises(ValueError, match=r"'tflite-int4'.*savedmodel, tflite-fp32"):
        export_model(enet, tmp_path, formats=("savedmodel", "tflite-int4"), input_size=(64, 64))
    with pytest.raises(ValueError, match="'pb'"):
        check_parity(enet, {"pb": "x"}, np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="representative_images is required"):
        export_model(enet, tmp_path, formats=("tflite-int8",), input_size=(64, 64))
    assert not os.listdir(tmp_path)  # nothing written before the arguments are checked


def test_mean_iou():
    labels = np.array([[0, 0, 1, 1, 255]])
    preds = np.array([[0, 1, 1, 1, 2]])
    # class 0: I=1, U=2; class 1: I=2, U=3; class 2: absent (the 255 pixel is ignored).
    assert math.isclose(mean_iou(preds, labels, 3), (1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match=r"\[7\]"):
        mean_iou(preds, np.array([[0, 0, 1, 7, 255]]), 3)


def _unpool_model():
    import keras

    from kerasseg.layers import MaxUnpooling2D

    inputs = keras.Input((4, 4, 3), name="image")
    pooled = keras.layers.MaxPooling2D(2)(inputs)
    outputs = MaxUnpooling2D(2)([pooled, inputs])
    return keras.Model(inputs, outputs)


def test_max_unpooling_near_ties_finds_only_close_distinct_maxima():
    from kerasseg.export.parity import max_unpooling_near_ties

    images = np.zeros((4, 4, 4, 3), np.float32)
    images[0, 0, 0], images[0, 0, 1] = 2.0, np.nextafter(np.float32(2.0), np.float32(0))  # 1 ulp apart
    images[1, 0, 0], images[1, 1, 1] = 2.0, 1.9  # clear maximum
    images[2, 2, 2], images[2, 3, 3] = 5.0, 5.0  # exactly equal: every runtime takes the first
    images[3] = -5.0
    images[3, 1, 2], images[3, 1, 3] = -1.0, -1.0 + 1e-5  # relative gap 1e-5: not a near tie at 2e-6
    assert max_unpooling_near_ties(_unpool_model(), images).tolist() == [True, False, False, False]
    assert max_unpooling_near_ties(_unpool_model(), images, rtol=1e-4).tolist() == [True, False, False, True]
    import keras

    no_unpooling = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    assert not max_unpooling_near_ties(no_unpooling, images).any()


def test_near_tie_images_are_held_to_argmax_agreement(monkeypatch, tmp_path):
    from kerasseg.export import parity

    model = _unpool_model()
    images = np.random.default_rng(0).uniform(0, 1, (3, 4, 4, 3)).astype(np.float32)
    images[0, 0, 0], images[0, 0, 1] = 2.0, np.nextafter(np.float32(2.0), np.float32(0))
    reference = np.asarray(model(images))
    moved = reference.copy()
    moved[0, 0, 0], moved[0, 0, 1] = reference[0, 0, 1], reference[0, 0, 0]  # the other position of the tie
    monkeypatch.setattr(parity, "run_artifact", lambda fmt, path, x: moved)
    (row,) = parity.check_parity(model, {"onnx": "unused"}, images)
    assert row["near_tie_images"] == 1 and row["max_abs_diff"] == 2.0 and row["max_abs_diff_exact"] == 0
    assert row["passed"]
    moved[1, 2, 2] += 1e-3  # a real difference in an image without ties fails
    (row,) = parity.check_parity(model, {"onnx": "unused"}, images)
    assert row["max_abs_diff_exact"] == pytest.approx(1e-3) and not row["passed"]
