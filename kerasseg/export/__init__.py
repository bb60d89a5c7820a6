"""Export kerasseg models for deployment and check each artifact against the Keras model.

`export_model` is the one bundle call: it writes every requested format into one directory, runs the parity
check (`parity.py`) and writes `parity.json`:

    DIR/savedmodel/<name>/1/     TF Serving SavedModel (any input size, outputs logits/probabilities/classes)
    DIR/<name>_fp32.tflite       LiteRT, batch 1, fixed input_size
    DIR/<name>_fp16.tflite       float16 weights, float32 I/O
    DIR/<name>_int8.tflite       full integer, uint8 (or int8) I/O
    DIR/<name>.onnx              dynamic batch / height / width
    DIR/parity.json
"""
import os
import time

import numpy as np

from kerasseg.export.onnx import export_onnx, run_onnx
from kerasseg.export.parity import THRESHOLDS, check_parity, format_parity_table, mean_iou
from kerasseg.export.savedmodel import export_savedmodel, run_savedmodel
from kerasseg.export.tflite import (
    assert_builtin_ops_only,
    export_tflite,
    resolve_input_size,
    run_tflite,
    tflite_op_counts,
    tflite_ops,
)

FORMATS = ("savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8", "onnx")

__all__ = [
    "FORMATS",
    "THRESHOLDS",
    "artifact_path",
    "assert_builtin_ops_only",
    "check_parity",
    "export_model",
    "export_onnx",
    "export_savedmodel",
    "export_tflite",
    "format_parity_table",
    "mean_iou",
    "run_onnx",
    "run_savedmodel",
    "run_tflite",
    "tflite_op_counts",
    "tflite_ops",
]


def artifact_path(out_dir, name, fmt, version=1):
    """Returns where `export_model` writes format `fmt` of model `name` under `out_dir`."""
    out_dir = os.fspath(out_dir)
    if fmt == "savedmodel":
        return os.path.join(out_dir, "savedmodel", name, str(version))
    if fmt.startswith("tflite-"):
        return os.path.join(out_dir, f"{name}_{fmt.split('-', 1)[1]}.tflite")
    if fmt == "onnx":
        return os.path.join(out_dir, f"{name}.onnx")
    raise ValueError(f"Unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}.")


def export_model(model, out_dir, formats=FORMATS, input_size=None, representative_images=None,
                 parity_images=None, parity_labels=None, int8_io="uint8"):
    """Exports a model to every requested format, checks parity and writes `parity.json`.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        out_dir: output directory (created).
        formats: any of `FORMATS`.
        input_size: (height, width) of the TFLite graphs (and of the parity images); None to use the model's
            static input size. The SavedModel and ONNX exports keep dynamic sizes.
        representative_images: int8 calibration images, float32 [H, W, 3] or [1, H, W, 3] in [0, 255];
            required when "tflite-int8" is requested. Also the parity images when `parity_images` is None.
        parity_images: float32 [B, H, W, 3] in [0, 255] at `input_size` for the parity check.
        parity_labels: optional int [B, H, W] labels (255 = ignore) to report per-format mIoU.
        int8_io: "uint8" or "int8" input/output tensors of the int8 model.

    Returns:
        {"artifacts": {format: path}, "parity": [rows], "parity_json": path, "seconds": {format: s}}.
        Without parity images (neither `parity_images` nor `representative_images`) the check is skipped:
        "parity" is empty and no parity.json is written.

    Raises:
        ValueError: an unknown format (naming it and the valid ones), or "tflite-int8" without
            `representative_images`.
    """
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"Unknown export format(s) {unknown}; valid formats: {', '.join(FORMATS)}.")
    if not formats:
        raise ValueError(f"formats is empty; choose from {', '.join(FORMATS)}.")
    if "tflite-int8" in formats and representative_images is None:
        raise ValueError("representative_images is required for the 'tflite-int8' format (int8 calibration).")
    if representative_images is not None:
        representative_images = [np.asarray(image, dtype=np.float32) for image in representative_images]
    needs_size = any(f.startswith("tflite-") for f in formats)
    size = resolve_input_size(model, input_size) if (needs_size or input_size is not None) else None

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    name = model.name
    artifacts, seconds = {}, {}
    for fmt in formats:
        path = artifact_path(out_dir, name, fmt)
        start = time.perf_counter()
        if fmt == "savedmodel":
            export_savedmodel(model, out_dir, name=name)
        elif fmt.startswith("tflite-"):
            export_tflite(model, path, quantization=fmt.split("-", 1)[1], input_size=size,
                          representative_images=representative_images, int8_io=int8_io)
            assert_builtin_ops_only(path)
        else:
            export_onnx(model, path)
        seconds[fmt] = round(time.perf_counter() - start, 2)
        artifacts[fmt] = path

    if parity_images is None and representative_images is not None:
        parity_images = np.concatenate([image.reshape((-1,) + image.shape[-3:]) for image in representative_images])
        if parity_labels is not None:
            raise ValueError("parity_labels needs parity_images (labels must match the images they label).")
    rows, json_path = [], None
    if parity_images is not None:
        json_path = os.path.join(out_dir, "parity.json")
        rows = check_parity(model, artifacts, parity_images, labels=parity_labels, json_path=json_path)
    return {"artifacts": artifacts, "parity": rows, "parity_json": json_path, "seconds": seconds}
