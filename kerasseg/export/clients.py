"""Checks of exported files with the clients that load them in production.

* `.tflite`: MediaPipe's `ImageSegmenter` task (the C++ graph Android runs, through the `mediapipe` wheel) loads
  the file, reports the model's class names as its labels, and its CATEGORY_MASK agrees with the argmax of the
  same file run by LiteRT (`kerasseg.litert`) on the same uint8 images; the graph is GPU-delegate friendly
  (one subgraph, static shapes, no ARG_MAX); and how the XNNPACK CPU delegate partitions it.
* SavedModel: each TF Serving signature (`kerasseg.export.savedmodel.SIGNATURES`) is called on the same images
  (PNG-encoded for `image_bytes` and `tf_example`) and returns the `serving_default` mask at the sent size.

Each check is a row {artifact, client, check, value, passed}; `format_client_lines` prints one line per row.
"""
import io

import numpy as np

#: Pixels where MediaPipe's CATEGORY_MASK must equal the LiteRT argmax (fp32); fp16 / int8 files are held to
#: `QUANTIZED_MASK_AGREEMENT` (the same file in both runtimes: a few quantized near-ties may differ).
FP32_MASK_AGREEMENT = 0.999
QUANTIZED_MASK_AGREEMENT = 0.99
#: Pixels where every Serving signature must return the `serving_default` mask (PNG is lossless).
SIGNATURE_MASK_AGREEMENT = 0.999


def _row(artifact, client, check, value, passed):
    return {"artifact": artifact, "client": client, "check": check, "value": value, "passed": bool(passed)}


def mediapipe_available():
    """True when the `mediapipe` wheel (and its ImageSegmenter task) can be imported."""
    try:
        from mediapipe.tasks.python import vision  # noqa: F401
    except ImportError:
        return False
    return True


def mediapipe_category_masks(path, images):
    """Runs MediaPipe's `ImageSegmenter` on uint8 RGB images and returns (labels, category masks [B, H, W]).

    Args:
        path: a `.tflite` file with segmenter metadata.
        images: uint8 [B, H, W, 3] RGB.

    Returns:
        (the labels MediaPipe read from the metadata, uint8 masks at the image size).

    Raises:
        ImportError: without the `mediapipe` wheel. MediaPipe's own error when it refuses the model.
    """
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                           output_category_mask=True, output_confidence_masks=False)
    masks = []
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        labels = list(segmenter.labels)
        for image in np.asarray(images, np.uint8):
            result = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            masks.append(np.array(result.category_mask.numpy_view()).reshape(image.shape[:2]))
    return labels, np.stack(masks)


def check_tflite(fmt, path, images, class_names=None):
    """Graph, XNNPACK and (with class names and the `mediapipe` wheel) MediaPipe checks of one `.tflite` file.

    Args:
        fmt: the format name (e.g. "tflite-fp32"), for the rows.
        path: the `.tflite` file.
        images: uint8 [B, H, W, 3] at the model's input size.
        class_names: the names written into the metadata; None skips the MediaPipe checks (reported).

    Returns:
        A list of rows.
    """
    from kerasseg.litert.runtime import describe_partitions, graph_summary, make_interpreter, run_interpreter
    from kerasseg.litert.runtime import xnnpack_partitions

    summary = graph_summary(path)
    rows = [_row(fmt, "GPU delegate", "one subgraph, static shapes, no ARG_MAX",
                 f"{summary['subgraphs']} subgraph(s), {len(summary['dynamic_tensors'])} dynamic tensor(s), "
                 f"ARG_MAX {'present' if summary['has_argmax'] else 'absent'}",
                 summary["subgraphs"] == 1 and not summary["dynamic_tensors"] and not summary["has_argmax"])]
    interpreter = make_interpreter(path)
    rows.append(_row(fmt, "LiteRT CPU", "XNNPACK delegation", describe_partitions(xnnpack_partitions(interpreter)),
                     True))
    if class_names is None:
        return rows
    if summary["input_dtype"] == "int8":
        from kerasseg.export.tflite import MEDIAPIPE_INT8_IO_MESSAGE

        rows.append(_row(fmt, "MediaPipe", "loadable", "no: " + MEDIAPIPE_INT8_IO_MESSAGE, True))
        return rows
    if not mediapipe_available():
        from kerasseg.export.metadata import INSTALL_HINT

        rows.append(_row(fmt, "MediaPipe", "ImageSegmenter", "not checked: " + INSTALL_HINT, False))
        return rows
    try:
        labels, masks = mediapipe_category_masks(path, images)
    except Exception as e:  # MediaPipe's refusal is the finding: report it as a failed row
        rows.append(_row(fmt, "MediaPipe", "ImageSegmenter loads", f"refused: {e}", False))
        return rows
    rows.append(_row(fmt, "MediaPipe", "ImageSegmenter loads", "yes", True))
    rows.append(_row(fmt, "MediaPipe", "labels are the class names", ", ".join(labels),
                     labels == [str(n) for n in class_names]))
    reference = run_interpreter(interpreter, np.asarray(images, np.float32)).argmax(-1)
    agreement = float(np.mean(masks == reference))
    bar = FP32_MASK_AGREEMENT if fmt.endswith("fp32") else QUANTIZED_MASK_AGREEMENT
    rows.append(_row(fmt, "MediaPipe", f"CATEGORY_MASK = LiteRT argmax on >= {100 * bar:g}%",
                     f"{100 * agreement:.2f}%", agreement >= bar))
    return rows


def _png(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_savedmodel(path, images):
    """Calls every Serving signature of a SavedModel on the same images and compares the masks.

    Args:
        path: the SavedModel version directory.
        images: uint8 [B, H, W, 3].

    Returns:
        A list of rows, one per signature.
    """
    import tensorflow as tf

    from kerasseg.export.savedmodel import SIGNATURE_KEY, SIGNATURES, load_savedmodel

    images = np.asarray(images, np.uint8)
    pngs = [_png(image) for image in images]
    examples = [tf.train.Example(features=tf.train.Features(feature={"image/encoded": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[png]))})).SerializeToString() for png in pngs]
    feeds = {SIGNATURE_KEY: {"image": tf.constant(images.astype(np.float32))},
             "image_tensor": {"image_tensor": tf.constant(images)},
             "image_bytes": {"image_bytes": tf.constant(pngs)},
             "tf_example": {"tf_example": tf.constant(examples)}}
    loaded = load_savedmodel(path)
    reference = loaded.signatures[SIGNATURE_KEY](**feeds[SIGNATURE_KEY])["classes"].numpy()
    rows = []
    for name in SIGNATURES:
        try:
            outputs = loaded.signatures[name](**feeds[name])
        except Exception as e:  # a signature that cannot be called is the finding
            rows.append(_row("savedmodel", "TF Serving", f"signature {name}", f"failed: {e}", False))
            continue
        classes = outputs["classes"].numpy()
        same_size = classes.shape == images.shape[:3] and tuple(outputs["logits"].shape[:3]) == images.shape[:3]
        agreement = float(np.mean(classes == reference)) if same_size else 0.0
        rows.append(_row("savedmodel", "TF Serving", f"signature {name}",
                         f"classes {list(classes.shape)}, {100 * agreement:.2f}% = serving_default",
                         same_size and agreement >= SIGNATURE_MASK_AGREEMENT))
    return rows


def check_clients(artifacts, images, class_names=None):
    """Runs the client checks of every exported artifact.

    Args:
        artifacts: {format: path} as `export_model` returns it.
        images: float32 or uint8 [B, H, W, 3] in [0, 255] at the TFLite input size (rounded to uint8: the
            clients take camera bytes).
        class_names: the class names written into the `.tflite` metadata, or None.

    Returns:
        A list of rows (see the module docstring).
    """
    images = np.clip(np.round(np.asarray(images, np.float32)), 0, 255).astype(np.uint8)
    rows = []
    for fmt, path in artifacts.items():
        if fmt.startswith("tflite-"):
            rows.extend(check_tflite(fmt, path, images, class_names))
        elif fmt == "savedmodel":
            rows.extend(check_savedmodel(path, images))
    return rows


def format_client_lines(rows):
    """One line per check: `artifact  client: check -> value  [ok|FAILED]`."""
    width = max((len(r["artifact"]) for r in rows), default=0)
    return "\n".join(f"{r['artifact']:<{width}}  {r['client']}: {r['check']} -> {r['value']}  "
                     f"[{'ok' if r['passed'] else 'FAILED'}]" for r in rows)
