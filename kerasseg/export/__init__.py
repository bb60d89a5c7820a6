"""Export kerasseg models for deployment and check each artifact against the Keras model and its real clients.

`export_model` is the one bundle call: it writes every requested format into one directory, runs the parity
check (`parity.py`) and the client checks (`clients.py`: MediaPipe's ImageSegmenter for `.tflite`, every TF
Serving signature for the SavedModel) and writes `parity.json`:

    DIR/savedmodel/<name>/1/     TF Serving SavedModel (signatures serving_default, image_bytes, image_tensor,
                                 tf_example; any input size; outputs logits/probabilities/classes)
    DIR/<name>_fp32.tflite       LiteRT, batch 1, fixed input_size, MediaPipe ImageSegmenter metadata
    DIR/<name>_fp16.tflite       float16 weights, float32 I/O, metadata
    DIR/<name>_int8.tflite       full integer, uint8 in / float32 out (or int8 I/O), metadata (uint8 only)
    DIR/<name>.onnx              dynamic batch / height / width
    DIR/parity.json

With ONNX and another format, tf2onnx (single-threaded Python) converts in a child process while this one writes
the SavedModel and the `.tflite` files (`kerasseg.export.onnx.start_export_onnx`).
"""
import os
import time

import numpy as np

from kerasseg.export.clients import check_clients, format_client_lines
from kerasseg.export.formats import FORMATS, TFLITE_QUANTIZATIONS
from kerasseg.export.onnx import export_onnx, run_onnx, start_export_onnx
from kerasseg.export.parity import THRESHOLDS, check_parity, format_parity_table, mean_iou
from kerasseg.export.savedmodel import export_savedmodel, run_savedmodel, shared_loads
from kerasseg.export.tflite import (
    MEDIAPIPE_INT8_IO_MESSAGE,
    assert_builtin_ops_only,
    export_tflite,
    resolve_input_size,
    run_tflite,
    tflite_op_counts,
    tflite_ops,
)

__all__ = [
    "FORMATS",
    "THRESHOLDS",
    "artifact_path",
    "assert_builtin_ops_only",
    "check_clients",
    "check_parity",
    "export_model",
    "export_onnx",
    "export_savedmodel",
    "export_tflite",
    "format_client_lines",
    "format_parity_table",
    "mean_iou",
    "run_onnx",
    "run_savedmodel",
    "run_tflite",
    "start_export_onnx",
    "tflite_op_counts",
    "tflite_ops",
]


def artifact_path(out_dir, name, fmt, version=1):
    """Returns where `export_model` writes format `fmt` of model `name` under `out_dir`."""
    out_dir = os.fspath(out_dir)
    if fmt == "savedmodel":
        return os.path.join(out_dir, "savedmodel", name, str(version))
    if fmt in TFLITE_QUANTIZATIONS:
        return os.path.join(out_dir, f"{name}_{TFLITE_QUANTIZATIONS[fmt]}.tflite")
    if fmt == "onnx":
        return os.path.join(out_dir, f"{name}.onnx")
    raise ValueError(f"Unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}.")


def default_class_names(num_classes):
    """`class_0`, `class_1`, ... for a model exported without its dataset's class names."""
    return [f"class_{i}" for i in range(int(num_classes))]


def export_model(model, out_dir, formats=FORMATS, input_size=None, representative_images=None,
                 parity_images=None, parity_labels=None, int8_io="uint8", class_names=None, max_size=None,
                 android_metadata="auto", client_checks=True):
    """Exports a model to every requested format, checks parity and the clients, and writes `parity.json`.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        out_dir: output directory (created).
        formats: any of `FORMATS`.
        input_size: (height, width) of the TFLite graphs (and of the parity images); None to use the model's
            static input size. The SavedModel and ONNX exports keep dynamic sizes.
        representative_images: int8 calibration images, float32 [H, W, 3] or [1, H, W, 3] in [0, 255];
            required when "tflite-int8" is requested. Also the parity images when `parity_images` is None.
        parity_images: float32 [B, H, W, 3] in [0, 255] at `input_size` for the parity and client checks.
        parity_labels: optional int [B, H, W] labels (255 = ignore) to report per-format mIoU.
        int8_io: "uint8" (default; what MediaPipe loads: uint8 input, float32 output) or "int8" (int8 input
            and output) for the int8 model.
        class_names: the C class names for the `.tflite` metadata (MediaPipe's labels); None for
            `class_0` ... `class_{C-1}`.
        max_size: optional long-side limit of the SavedModel signatures (see `export_savedmodel`).
        android_metadata: "auto" writes MediaPipe metadata into every `.tflite` (except int8 with int8 I/O, which
            MediaPipe cannot load) when the `mediapipe` wheel is installed, and reports it when not; True
            requires it (ImportError with the install command); False writes bare `.tflite` files.
        client_checks: run the client checks (`kerasseg.export.clients`) on the parity images.

    With "onnx" and another format, the ONNX conversion runs in a child process (`start_export_onnx`) while the
    other formats are written: "seconds" of "onnx" is then its time beside them, not after them; "seconds" of
    "formats" is the wall time of all of them.

    Returns:
        {"artifacts": {format: path}, "parity": [rows], "parity_json": path, "seconds": {format: s},
        "clients": [client check rows], "notes": [lines to show the user]}. Without parity images (neither
        `parity_images` nor `representative_images`) the parity and client checks are skipped: "parity" and
        "clients" are empty and no parity.json is written.

    Raises:
        ValueError: an unknown format (naming it and the valid ones), "tflite-int8" without
            `representative_images`, or `android_metadata` not one of "auto", True, False.
        ImportError: `android_metadata=True` without the `mediapipe` wheel.
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
    if android_metadata not in ("auto", True, False):
        raise ValueError(f"android_metadata must be 'auto', True or False, got {android_metadata!r}.")
    if representative_images is not None:
        representative_images = [np.asarray(image, dtype=np.float32) for image in representative_images]
    needs_size = any(f in TFLITE_QUANTIZATIONS for f in formats)
    size = resolve_input_size(model, input_size) if (needs_size or input_size is not None) else None
    num_classes = int(model.outputs[0].shape[-1])
    class_names = default_class_names(num_classes) if class_names is None else [str(n) for n in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names; model {model.name!r} has {num_classes} classes.")

    notes = []
    with_metadata = False
    if needs_size and android_metadata:
        from kerasseg.export.clients import mediapipe_available
        from kerasseg.export.metadata import INSTALL_HINT

        with_metadata = mediapipe_available()
        if not with_metadata:
            if android_metadata is True:
                raise ImportError(INSTALL_HINT)
            notes.append(f"MediaPipe metadata not written: {INSTALL_HINT}")
    if "tflite-int8" in formats and int8_io == "int8":
        notes.append(f"tflite-int8 without MediaPipe metadata: {MEDIAPIPE_INT8_IO_MESSAGE}")

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    name = model.name
    seconds = {}
    formats_start = time.perf_counter()
    # ONNX converts in a child process while this one writes the other formats (tf2onnx is single-threaded).
    onnx_job = None
    if "onnx" in formats and len(formats) > 1:
        onnx_job = start_export_onnx(model, artifact_path(out_dir, name, "onnx"))
        notes.append("onnx was converted in a child process beside the other formats: its time overlaps theirs.")
    traced = None  # one trace of the batch-1 graph for the three .tflite files
    try:
        for fmt in formats:
            path = artifact_path(out_dir, name, fmt)
            start = time.perf_counter()
            if fmt == "savedmodel":
                export_savedmodel(model, out_dir, name=name, max_size=max_size)
            elif fmt in TFLITE_QUANTIZATIONS:
                from kerasseg.export.tflite import trace_for_tflite

                quantization = TFLITE_QUANTIZATIONS[fmt]
                traced = traced or trace_for_tflite(model, size)
                names = class_names if with_metadata and not (quantization == "int8" and int8_io == "int8") else None
                export_tflite(model, path, quantization=quantization, input_size=size,
                              representative_images=representative_images, int8_io=int8_io, class_names=names,
                              traced=traced)
                assert_builtin_ops_only(path)
            elif onnx_job is None:
                export_onnx(model, path)
            else:
                continue
            seconds[fmt] = round(time.perf_counter() - start, 2)
        if onnx_job is not None:
            onnx_job.wait()
            seconds["onnx"] = round(onnx_job.seconds, 2)
        seconds["formats"] = round(time.perf_counter() - formats_start, 2)
    finally:
        if onnx_job is not None:
            onnx_job.cancel()
    artifacts = {fmt: artifact_path(out_dir, name, fmt) for fmt in formats}

    if parity_images is None and representative_images is not None:
        parity_images = np.concatenate([image.reshape((-1,) + image.shape[-3:]) for image in representative_images])
        if parity_labels is not None:
            raise ValueError("parity_labels needs parity_images (labels must match the images they label).")
    rows, json_path, clients = [], None, []
    if parity_images is not None:
        json_path = os.path.join(out_dir, "parity.json")
        with shared_loads():  # the parity and the client checks call the same loaded SavedModel
            start = time.perf_counter()
            rows = check_parity(model, artifacts, parity_images, labels=parity_labels, json_path=json_path)
            seconds["parity"] = round(time.perf_counter() - start, 2)
            if client_checks:
                start = time.perf_counter()
                clients = check_clients(artifacts, parity_images, class_names if with_metadata else None)
                seconds["clients"] = round(time.perf_counter() - start, 2)
    return {"artifacts": artifacts, "parity": rows, "parity_json": json_path, "seconds": seconds,
            "clients": clients, "notes": notes}
