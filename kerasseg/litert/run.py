"""Segment images with a `.tflite` model (LiteRT): class-index masks, per-image latency, mIoU with labels.

    python -m kerasseg.litert.run MODEL.tflite IMAGE_OR_FOLDER [...] --out DIR [--labels DIR] [--threads 2]

Each image is converted to RGB and resized (bilinear) to the model's input size; the predicted classes are
resized back to the image size (nearest) unless `--model-size` is given, and written to DIR/<stem>.png as an
8-bit PNG whose pixel values are class indices (so at most 256 classes). With `--labels DIR` (label PNGs named
like the images, class indices, 255 = ignore) the mIoU of the `.tflite` file is printed at label resolution.
Needs LiteRT, numpy and Pillow only.
"""
import argparse
import os
import sys
import time

import numpy as np

from kerasseg.litert.runtime import input_size, make_interpreter, resize_rgb, run_interpreter

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def list_images(paths):
    """Expands image files and folders (their image files, sorted) into a list of files.

    Args:
        paths: image files and/or folders.

    Returns:
        The image paths.

    Raises:
        FileNotFoundError: naming a path that does not exist, or a folder without images.
    """
    files = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found = sorted(os.path.join(path, name) for name in os.listdir(path)
                           if name.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"image not found: {path}")
    return files


def read_rgb(path):
    """Reads an image file as uint8 RGB [H, W, 3] (grayscale and RGBA converted).

    Raises:
        ValueError: naming the file when Pillow cannot read it.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (FileNotFoundError, OSError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


def confusion_matrix(predictions, labels, num_classes, ignore_index=255):
    """Accumulates a [C, C] (true, predicted) confusion matrix, skipping `ignore_index` labels.

    Raises:
        ValueError: shapes differ, or a label is outside [0, num_classes) and is not `ignore_index`.
    """
    predictions = np.asarray(predictions, np.int64).ravel()
    labels = np.asarray(labels, np.int64).ravel()
    if predictions.shape != labels.shape:
        raise ValueError(f"label has {labels.size} pixels, prediction {predictions.size}.")
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(f"label values {sorted(set(labels[bad].tolist()))[:10]} are outside [0, {num_classes}) "
                         f"and not the ignore value {ignore_index}")
    return np.bincount(labels[valid] * num_classes + predictions[valid],
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_iou_from_confusion(confusion):
    """Mean IoU over the classes present in labels or predictions (NaN when none)."""
    confusion = np.asarray(confusion, np.float64)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    present = union > 0
    return float(np.mean(np.diag(confusion)[present] / union[present])) if present.any() else float("nan")


class Segmenter:
    """A `.tflite` segmentation model on LiteRT, taking images of any size.

    Args:
        model_path: the `.tflite` file.
        num_threads: CPU threads; None for the runtime's default.
    """

    def __init__(self, model_path, num_threads=None):
        self.model_path = os.fspath(model_path)
        self.interpreter = make_interpreter(model_path, num_threads)
        self.size = input_size(self.interpreter)
        self.num_classes = int(self.interpreter.get_output_details()[0]["shape"][-1])

    def logits(self, image):
        """float32 logits [h, w, C] at the model's input size for a uint8/float RGB image [H, W, 3] of any size."""
        return run_interpreter(self.interpreter, resize_rgb(image, *self.size))[0]

    def classes(self, image, keep_model_size=False):
        """uint8 class mask [H, W] of the image (at the model's input size with `keep_model_size`)."""
        from PIL import Image

        if self.num_classes > 256:
            raise ValueError(f"{self.model_path} has {self.num_classes} classes; a uint8 PNG mask holds at most 256.")
        mask = self.logits(image).argmax(-1).astype(np.uint8)
        original = tuple(np.asarray(image).shape[:2])
        if not keep_model_size and original != self.size:
            mask = np.asarray(Image.fromarray(mask).resize((original[1], original[0]), Image.NEAREST))
        return mask


def segment(model_path, image_path, num_threads=None, keep_model_size=False):
    """Runs the model on one image file and returns its uint8 class-index mask [H, W]."""
    return Segmenter(model_path, num_threads).classes(read_rgb(image_path), keep_model_size)


def segment_folder(model_path, image_paths, out_dir=None, labels_dir=None, num_threads=None, keep_model_size=False,
                   log=print):
    """Segments images (files or folders), timing each `invoke`, and scores them against label PNGs.

    Args:
        model_path: the `.tflite` file.
        image_paths: image files and/or folders.
        out_dir: folder for the `<stem>.png` masks; None to write nothing.
        labels_dir: folder of `<stem>.png` label maps (class indices, 255 = ignore); None for no mIoU.
        num_threads: CPU threads.
        keep_model_size: write masks at the model's input size.
        log: called with one line per image.

    Returns:
        dict: images (count), latency_ms (list, the model call per image), miou (or None).

    Raises:
        FileNotFoundError / ValueError: naming a missing image, label or unreadable file.
    """
    from PIL import Image

    files = list_images(image_paths)
    segmenter = Segmenter(model_path, num_threads)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    confusion = None
    latencies = []
    for path in files:
        image = read_rgb(path)
        start = time.perf_counter()
        mask = segmenter.classes(image, keep_model_size)
        latencies.append((time.perf_counter() - start) * 1e3)
        stem = os.path.splitext(os.path.basename(path))[0]
        line = f"{path}: {image.shape[1]}x{image.shape[0]}, {latencies[-1]:.1f} ms"
        if out_dir:
            Image.fromarray(mask).save(os.path.join(out_dir, f"{stem}.png"))
        if labels_dir:
            label_path = os.path.join(labels_dir, f"{stem}.png")
            if not os.path.isfile(label_path):
                raise FileNotFoundError(f"no label {label_path} for image {path}")
            with Image.open(label_path) as label_image:
                label = np.asarray(label_image)
            if label.ndim != 2:
                raise ValueError(f"label {label_path} must be a single-channel PNG of class indices, "
                                 f"got shape {label.shape}")
            if label.shape != mask.shape:
                mask = np.asarray(Image.fromarray(mask).resize((label.shape[1], label.shape[0]), Image.NEAREST))
            try:
                matrix = confusion_matrix(mask, label, segmenter.num_classes)
            except ValueError as e:
                raise ValueError(f"{label_path}: {e}") from e
            confusion = matrix if confusion is None else confusion + matrix
        log(line)
    miou = None if confusion is None else mean_iou_from_confusion(confusion)
    return {"images": len(files), "latency_ms": latencies, "miou": miou}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasseg.litert.run", description=__doc__.strip().splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...) and/or folders of images")
    parser.add_argument("--out", help="output folder for the class-index PNG masks (or a .png path for one image)")
    parser.add_argument("--labels", help="folder of label PNGs named like the images: prints the mIoU")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: runtime's choice)")
    parser.add_argument("--model-size", action="store_true", help="write masks at the model's input size")
    args = parser.parse_args(argv)
    from PIL import Image

    try:
        if args.out and args.out.lower().endswith(".png"):  # one image -> one mask file
            if len(args.images) != 1 or os.path.isdir(args.images[0]):
                raise ValueError(f"--out {args.out} is a file: give one image, or a folder for --out")
            mask = segment(args.model, args.images[0], args.threads, args.model_size)
            Image.fromarray(mask).save(args.out)
            classes, counts = np.unique(mask, return_counts=True)
            summary = ", ".join(f"{c}: {100 * n / mask.size:.1f}%" for c, n in zip(classes, counts))
            print(f"wrote {args.out} ({mask.shape[1]}x{mask.shape[0]}); classes {summary}")
            return 0
        result = segment_folder(args.model, args.images, args.out, args.labels, args.threads, args.model_size)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    latency = np.asarray(result["latency_ms"])
    print(f"{result['images']} images: mean {latency.mean():.1f} ms, p50 {np.percentile(latency, 50):.1f} ms, "
          f"max {latency.max():.1f} ms per image" + (f"; masks in {args.out}" if args.out else ""))
    if result["miou"] is not None:
        print(f"mIoU {result['miou']:.4f} ({os.path.basename(args.model)} on {result['images']} labelled images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
