"""`kerasseg export` prints, beside the parity table, one line per client check."""
import pytest

from kerasseg.cli import main


@pytest.mark.slow  # a whole `kerasseg export` (~1 min on 2 free cores); the rows themselves: test_clients.py
def test_export_prints_client_checks_and_the_int8_io_refusal(tmp_path, capsys):
    import keras
    import yaml

    import kerasseg
    from kerasseg.export.clients import mediapipe_available

    recipe = yaml.safe_load(open("configs/enet_shapes_64x64.yaml"))
    recipe["data"]["train"] = {"num_samples": 4, "seed": 1}
    recipe["data"]["val"] = {"num_samples": 4, "seed": 2}
    recipe["export"].update(calibration_samples=4, parity_samples=4)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(recipe))
    keras.utils.set_random_seed(0)
    kerasseg.build_model("enet", 6, input_shape=(None, None, 3)).save(tmp_path / "best.keras")
    code = main(["export", str(tmp_path / "best.keras"), "--out", str(tmp_path / "export"),
                 "--formats", "savedmodel", "tflite-fp32", "tflite-int8", "--int8-io", "int8"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    # An untrained model may fail int8 parity (the exit code); the client lines are printed either way.
    assert code in (0, 1)
    assert "note: tflite-int8 without MediaPipe metadata: an int8 model with int8 (signed) input/output cannot be " \
           "loaded by MediaPipe's ImageSegmenter" in out
    assert "client checks:" in lines
    for signature in ("serving_default", "image_bytes", "image_tensor", "tf_example"):
        assert any(line.startswith("savedmodel") and f"TF Serving: signature {signature} -> classes [4, 64, 64], "
                   "100.00% = serving_default  [ok]" in line for line in lines), signature
    for fmt in ("tflite-fp32", "tflite-int8"):
        assert any(line.startswith(fmt) and "GPU delegate: one subgraph, static shapes, no ARG_MAX" in line
                   and line.endswith("[ok]") for line in lines)
        assert any(line.startswith(fmt) and "XNNPACK partition(s)" in line for line in lines)
    if not mediapipe_available():
        pytest.skip("mediapipe is not installed: the MediaPipe lines are replaced by the note")
    assert any(line.startswith("tflite-fp32") and "MediaPipe: ImageSegmenter loads -> yes  [ok]" in line
               for line in lines)
    assert any(line.startswith("tflite-fp32") and "MediaPipe: labels are the class names -> background, circle, "
               "square, triangle, ring, cross  [ok]" in line for line in lines)
    assert any(line.startswith("tflite-fp32") and "CATEGORY_MASK = LiteRT argmax on >= 99.9% -> " in line
               and line.endswith("[ok]") for line in lines)
    assert any(line.startswith("tflite-int8") and "MediaPipe: loadable -> no: an int8 model" in line for line in lines)
    assert out.splitlines()[-1].startswith("export took ")
