"""Numerical parity of exported artifacts against the Keras model they came from.

For every artifact the same images go through the Keras model and through the artifact's own runtime
(TensorFlow for the SavedModel signature, LiteRT for `.tflite`, onnxruntime for `.onnx`). Each row reports
the largest and mean absolute logit difference (int8 after dequantization), the fraction of pixels whose
argmax class agrees, and, with labels, the mIoU of the artifact and of the Keras model. A row passes when
its format's criterion holds (`THRESHOLDS`). The `max_abs_diff` thresholds hold for logits up to 1 in
magnitude and scale with the largest reference logit beyond that (`logit_scale` = max(1, max|logit|)):
float32 round-off grows with the values, and a trained deep decoder (RefineNet's summed residual paths)
easily produces logits of 50, where 1e-4 absolute is a few float32 ulps of accumulated error.

Max-unpooling (ENet) sends each value to the position of its window's maximum. When the two largest values of a
window are a few ulps apart, a runtime whose round-off differs (TFLite folds batch norm into the convolutions)
can pick the other position: a legitimate difference of up to ~1e-2 in the logits around that spot, not a
conversion error. `max_unpooling_near_ties` finds those images from the Keras model's own activations; the
`max_abs_diff` criterion is applied to the other images (`max_abs_diff_exact`), and the near-tie images must
still agree on the argmax class as fp16 must (>= 99% of their pixels). Rows report how many images had ties.
"""
import json
import os

import keras
import numpy as np

from kerasseg.export.formats import PARITY_CRITERIA as THRESHOLDS  # the one list of formats and criteria
from kerasseg.layers import MaxUnpooling2D
from kerasseg.metrics import MeanIoU

#: Relative gap (about 16 float32 ulps) between a max-unpooling window's two largest values that makes a near tie.
NEAR_TIE_RTOL = 2e-6
#: Argmax agreement required on images with max-unpooling near ties (the `max_abs_diff` formats).
NEAR_TIE_AGREEMENT = 0.99


def _logits_and_pooled_inputs(model, images):
    """One forward pass: the logits and, per `MaxUnpooling2D` layer of `model`, the tensor that was pooled."""
    layers = [layer for layer in model.layers if isinstance(layer, MaxUnpooling2D)]
    if not layers:
        return np.asarray(model(images, training=False), np.float32), []
    outputs = keras.Model(model.input, [model.output] + [layer.input[1] for layer in layers])(images, training=False)
    return np.asarray(outputs[0], np.float32), list(zip(layers, outputs[1:]))


def _near_tie_images(pooled_inputs, num_images, rtol):
    near_tie = np.zeros(num_images, bool)
    for layer, pooled in pooled_inputs:
        pooled = np.asarray(pooled, np.float64)
        b, h, w, c = pooled.shape
        k = layer.pool_size
        windows = pooled[:, : h // k * k, : w // k * k].reshape(b, h // k, k, w // k, k, c)
        windows = np.sort(windows.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // k, w // k, c, k * k), axis=-1)
        top, second = windows[..., -1], windows[..., -2]
        gap = top - second
        ties = (gap > 0) & (gap <= rtol * np.maximum(1.0, np.abs(top)))
        near_tie |= ties.reshape(b, -1).any(-1)
    return near_tie


def max_unpooling_near_ties(model, images, rtol=NEAR_TIE_RTOL):
    """Which images make one of the model's `MaxUnpooling2D` layers choose between near-equal maxima.

    A window is a near tie when its two largest values differ, by at most `rtol * max(1, |largest|)`. Exactly
    equal maxima are not: they come from equal inputs through the same element-wise ops (ReLU zeros, pixels
    clipped at 255) and are equal in every runtime, which then all take the first. Only `MaxUnpooling2D`
    layers of `model` itself are inspected (not of nested models).

    Args:
        model: a functional `keras.Model`.
        images: float32 [B, H, W, 3].
        rtol: relative gap of a near tie.

    Returns:
        bool array [B]: True for images with at least one near-tie window (all False without max-unpooling).
    """
    _, pooled_inputs = _logits_and_pooled_inputs(model, images)
    return _near_tie_images(pooled_inputs, len(images), rtol)


def run_artifact(fmt, path, images):
    """Runs one exported artifact with its own runtime.

    Args:
        fmt: a format name, one of `THRESHOLDS`.
        path: the artifact (SavedModel version directory, `.tflite` or `.onnx` file).
        images: float32 [B, H, W, 3] in [0, 255].

    Returns:
        float32 logits [B, H, W, C].
    """
    if fmt == "savedmodel":
        from kerasseg.export.savedmodel import run_savedmodel

        return run_savedmodel(path, images)
    if fmt.startswith("tflite-"):
        from kerasseg.litert.runtime import run_tflite

        return run_tflite(path, images)
    if fmt == "onnx":
        from kerasseg.export.onnx import run_onnx

        return run_onnx(path, images)
    raise ValueError(f"Unknown format {fmt!r}; valid formats: {', '.join(THRESHOLDS)}.")


def mean_iou(predictions, labels, num_classes, ignore_index=255):
    """Mean intersection-over-union of class maps.

    Args:
        predictions: int array [B, H, W] of predicted classes.
        labels: int array [B, H, W] of true classes; `ignore_index` pixels are skipped.
        num_classes: number of classes.
        ignore_index: label value that is not scored.

    Returns:
        The mean IoU over classes that occur in the predictions or labels (float), or NaN if none do.

    Raises:
        ValueError: shapes differ, or a label is outside [0, num_classes) and is not `ignore_index`.
    """
    predictions = np.asarray(predictions).astype(np.int64)
    labels = np.asarray(labels).astype(np.int64)
    if predictions.shape != labels.shape:
        raise ValueError(f"labels have shape {labels.shape}, predictions {predictions.shape}.")
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f"labels hold values {sorted(set(labels[bad].tolist()))[:10]} outside [0, {num_classes}) that are "
            f"not the ignore value {ignore_index}."
        )
    metric = MeanIoU(num_classes, ignore_class=ignore_index, from_logits=False)
    metric.update_state(labels, predictions)
    per_class = metric.per_class_iou()
    return float("nan") if np.isnan(per_class).all() else float(np.nanmean(per_class))


def _threshold(fmt, logit_scale):
    metric, comparison, threshold = THRESHOLDS[fmt]
    return threshold * logit_scale if metric == "max_abs_diff" else threshold


def _passed(fmt, row):
    metric, comparison, _ = THRESHOLDS[fmt]
    threshold = _threshold(fmt, row["logit_scale"])
    if metric == "max_abs_diff":
        exact, tie_agreement = row["max_abs_diff_exact"], row["near_tie_argmax_agreement"]
        return bool((exact is None or bool(exact <= threshold))
                    and (tie_agreement is None or tie_agreement >= NEAR_TIE_AGREEMENT))
    value = row[metric]
    if value is None or not np.isfinite(value):
        return False
    return bool(value <= threshold) if comparison == "<=" else bool(value >= threshold)


def check_parity(model, artifacts, images, labels=None, ignore_index=255, json_path=None):
    """Compares each artifact's output with the Keras model's on the same images.

    Args:
        model: the `keras.Model` the artifacts were exported from.
        artifacts: dict format name (one of `THRESHOLDS`) -> artifact path.
        images: float32 [B, H, W, 3] (or a list of [H, W, 3]) in [0, 255], at the size every artifact takes
            (the TFLite input size).
        labels: optional int [B, H, W] ground truth; adds `miou` (artifact) and `keras_miou` per row.
        ignore_index: label value excluded from the mIoU.
        json_path: if given, the rows are also written there as JSON (e.g. `DIR/parity.json`).

    Returns:
        A list of dict rows, one per artifact: format, path, max_abs_diff (all images), max_abs_diff_exact
        (images without max-unpooling near ties; None when there are none), near_tie_images,
        near_tie_argmax_agreement (None without near ties), mean_abs_diff, argmax_agreement, miou, keras_miou,
        metric, logit_scale, threshold, passed.

    Raises:
        ValueError: an unknown format name, or images / labels of the wrong shape.
    """
    unknown = [fmt for fmt in artifacts if fmt not in THRESHOLDS]
    if unknown:
        raise ValueError(f"Unknown format(s) {unknown}; valid formats: {', '.join(THRESHOLDS)}.")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}.")
    reference, pooled_inputs = _logits_and_pooled_inputs(model, images)
    num_classes = reference.shape[-1]
    reference_classes = reference.argmax(-1)
    logit_scale = max(1.0, float(np.abs(reference).max()))
    near_tie = _near_tie_images(pooled_inputs, len(images), NEAR_TIE_RTOL)
    keras_miou = None
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != reference_classes.shape:
            raise ValueError(f"labels must have shape {reference_classes.shape}, got {labels.shape}.")
        keras_miou = mean_iou(reference_classes, labels, num_classes, ignore_index)

    rows = []
    for fmt, path in artifacts.items():
        logits = run_artifact(fmt, path, images)
        if logits.shape != reference.shape:
            raise ValueError(f"{fmt} artifact {path} returned logits {logits.shape}, Keras {reference.shape}.")
        diff = np.abs(logits - reference)
        classes = logits.argmax(-1)
        metric, comparison, threshold = THRESHOLDS[fmt]
        row = {
            "format": fmt,
            "path": os.fspath(path),
            "max_abs_diff": float(diff.max()),
            "max_abs_diff_exact": float(diff[~near_tie].max()) if (~near_tie).any() else None,
            "near_tie_images": int(near_tie.sum()),
            "near_tie_argmax_agreement": (float(np.mean(classes[near_tie] == reference_classes[near_tie]))
                                          if near_tie.any() else None),
            "mean_abs_diff": float(diff.mean()),
            "argmax_agreement": float(np.mean(classes == reference_classes)),
            "miou": None if labels is None else mean_iou(classes, labels, num_classes, ignore_index),
            "keras_miou": keras_miou,
            "metric": metric,
            "logit_scale": logit_scale,
            "threshold": (f"{comparison} {threshold:g}" if _threshold(fmt, logit_scale) == threshold
                          else f"{comparison} {threshold:g} x {logit_scale:.3g}"),
        }
        row["passed"] = _passed(fmt, row)
        rows.append(row)
    if json_path is not None:
        write_parity_json(rows, json_path)
    return rows


def write_parity_json(rows, path):
    """Writes parity rows to `path` as JSON ({"rows": [...], "all_passed": bool}) and returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"rows": rows, "all_passed": all(r["passed"] for r in rows)}, f, indent=2)
    return path


def format_parity_table(rows):
    """Renders parity rows as an aligned plain-text table.

    Args:
        rows: the list returned by `check_parity`.

    Returns:
        The table as a str (header, separator, one line per row).
    """
    columns = [
        ("format", lambda r: r["format"]),
        ("max|dlogit|", lambda r: f"{r['max_abs_diff']:.3g}"),
        ("no-tie max", lambda r: "-" if r.get("max_abs_diff_exact") is None else f"{r['max_abs_diff_exact']:.3g}"),
        ("tie imgs", lambda r: str(r.get("near_tie_images", 0))),
        ("mean|dlogit|", lambda r: f"{r['mean_abs_diff']:.3g}"),
        ("argmax agree", lambda r: f"{100 * r['argmax_agreement']:.2f}%"),
        ("mIoU", lambda r: "-" if r.get("miou") is None else f"{r['miou']:.4f}"),
        ("keras mIoU", lambda r: "-" if r.get("keras_miou") is None else f"{r['keras_miou']:.4f}"),
        ("criterion", lambda r: f"{r['metric']} {r['threshold']}"),
        ("passed", lambda r: "yes" if r["passed"] else "NO"),
    ]
    cells = [[name for name, _ in columns]] + [[fn(r) for _, fn in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
