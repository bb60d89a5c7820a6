"""Exported `.tflite` files as MediaPipe's ImageSegmenter (Android's C++ graph) loads them, and the client rows.

The MediaPipe tests need the `mediapipe` wheel (`pip install "kerasseg[android]"`) and skip without it.
"""
import sys

import numpy as np
import pytest

from kerasseg.litert.runtime import graph_summary, run_tflite

SIZE = (64, 64)  # the bundle's input size (conftest)

TFLITE = ("tflite-fp32", "tflite-fp16", "tflite-int8")


def _uint8(images):
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt", TFLITE)
def test_gpu_delegate_friendly_graph(bundle, class_names, fmt):
    """One subgraph, no dynamic shape, no ARG_MAX (MediaPipe computes the mask itself)."""
    summary = graph_summary(bundle["artifacts"][fmt])
    assert summary["subgraphs"] == 1
    assert summary["dynamic_tensors"] == []
    assert not summary["has_argmax"]
    assert summary["input_shape"] == [1, *SIZE, 3] and summary["output_shape"] == [1, *SIZE, len(class_names)]
    assert summary["input_dtype"] == ("uint8" if fmt == "tflite-int8" else "float32")


@pytest.mark.parametrize("fmt", TFLITE)
def test_metadata_as_mediapipe_reads_it(bundle, class_names, fmt):
    pytest.importorskip("mediapipe")
    from kerasseg.export.metadata import read_segmenter_metadata

    metadata = read_segmenter_metadata(bundle["artifacts"][fmt])
    assert metadata["labels"] == class_names
    assert metadata["activation"] == "SOFTMAX"
    assert metadata["mean"] == [0.0] and metadata["std"] == [1.0] and metadata["color_space"] == "RGB"
    assert metadata["min_parser_version"] == "1.5.0"


@pytest.mark.parametrize("fmt", TFLITE)
def test_mediapipe_image_segmenter_matches_litert(bundle, images, class_names, fmt):
    pytest.importorskip("mediapipe")
    from kerasseg.export.clients import mediapipe_category_masks

    pixels = _uint8(images)
    labels, masks = mediapipe_category_masks(bundle["artifacts"][fmt], pixels)
    assert labels == class_names
    reference = run_tflite(bundle["artifacts"][fmt], pixels.astype(np.float32)).argmax(-1)
    assert masks.shape == reference.shape
    agreement = np.mean(masks == reference)
    assert agreement >= (0.999 if fmt == "tflite-fp32" else 0.99), agreement


def test_mediapipe_refuses_bare_float_model_and_int8_io(enet, images, class_names, tmp_path):
    """Without metadata MediaPipe refuses the float model; with int8 I/O it refuses even with metadata."""
    pytest.importorskip("mediapipe")
    from kerasseg.export.clients import mediapipe_category_masks
    from kerasseg.export.metadata import add_segmenter_metadata
    from kerasseg.export.tflite import convert_tflite, export_tflite

    bare = export_tflite(enet, tmp_path / "bare.tflite", input_size=SIZE)
    with pytest.raises(Exception):
        mediapipe_category_masks(bare, _uint8(images[:1]))
    with pytest.raises(ValueError, match="MediaPipe.*uint8"):
        export_tflite(enet, tmp_path / "i8.tflite", "int8", input_size=SIZE, representative_images=list(images),
                      int8_io="int8", class_names=class_names)
    int8_io = convert_tflite(enet, "int8", SIZE, list(images), int8_io="int8")
    (tmp_path / "i8.tflite").write_bytes(add_segmenter_metadata(int8_io, class_names))
    with pytest.raises(Exception):
        mediapipe_category_masks(tmp_path / "i8.tflite", _uint8(images[:1]))


def test_client_rows_of_the_bundle(bundle):
    rows = bundle["clients"]
    assert all(row["passed"] for row in rows), [row for row in rows if not row["passed"]]
    checks = {(row["artifact"], row["client"], row["check"]) for row in rows}
    for name in ("serving_default", "image_bytes", "image_tensor", "tf_example"):
        assert ("savedmodel", "TF Serving", f"signature {name}") in checks
    for fmt in TFLITE:
        assert (fmt, "GPU delegate", "one subgraph, static shapes, no ARG_MAX") in checks
        assert (fmt, "LiteRT CPU", "XNNPACK delegation") in checks
        if "mediapipe" in sys.modules or _has_mediapipe():
            assert (fmt, "MediaPipe", "labels are the class names") in checks
    from kerasseg.export import format_client_lines

    lines = format_client_lines(rows).splitlines()
    assert len(lines) == len(rows) and all(line.endswith("[ok]") for line in lines)


def _has_mediapipe():
    from kerasseg.export.clients import mediapipe_available

    return mediapipe_available()


def test_missing_mediapipe_is_named(enet, images, class_names, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    from kerasseg.export import export_model
    from kerasseg.export.metadata import add_segmenter_metadata

    with pytest.raises(ImportError, match=r'kerasseg\[android\]'):
        add_segmenter_metadata(b"", class_names)
    result = export_model(enet, tmp_path, formats=["tflite-fp32"], input_size=SIZE, parity_images=images[:1])
    assert any("kerasseg[android]" in note for note in result["notes"])
    mediapipe_rows = [row for row in result["clients"] if row["client"] == "MediaPipe"]
    assert mediapipe_rows == []  # no metadata written: nothing for MediaPipe to check, and the note says why
    with pytest.raises(ImportError, match=r'kerasseg\[android\]'):
        export_model(enet, tmp_path / "b", formats=["tflite-fp32"], input_size=SIZE, android_metadata=True)
