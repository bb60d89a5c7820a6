"""Segment one image with a `.tflite` model and write the class-index mask.

    python -m tflite.run MODEL.tflite IMAGE.png --out mask.png [--threads 2] [--model-size]

The image is converted to RGB and resized (bilinear) to the model's input size; the predicted classes are
resized back to the image size (nearest) unless `--model-size` is given, and written as an 8-bit PNG whose
pixel values are class indices (so at most 256 classes).
"""
import argparse
import sys

import numpy as np

from tflite._runtime import input_size, load_interpreter, predict_logits


def segment(model_path, image_path, num_threads=None, keep_model_size=False):
    """Runs the model on an image file.

    Args:
        model_path: the `.tflite` file.
        image_path: an image file Pillow can read.
        num_threads: CPU threads; None for the runtime's default.
        keep_model_size: return the mask at the model's input size instead of the image's size.

    Returns:
        uint8 class-index mask [H, W].
    """
    from PIL import Image

    interpreter = load_interpreter(model_path, num_threads)
    height, width = input_size(interpreter)
    try:
        image = Image.open(image_path).convert("RGB")
    except (FileNotFoundError, OSError) as e:
        raise ValueError(f"cannot read image {image_path}: {e}") from e
    original = image.size  # (width, height)
    if original != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    logits = predict_logits(interpreter, np.asarray(image, dtype=np.float32))
    if logits.shape[-1] > 256:
        raise ValueError(f"{model_path} has {logits.shape[-1]} classes; a uint8 PNG mask holds at most 256.")
    mask = logits.argmax(-1).astype(np.uint8)
    if not keep_model_size and original != (width, height):
        mask = np.asarray(Image.fromarray(mask).resize(original, Image.NEAREST))
    return mask


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tflite.run", description=__doc__.strip().splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("image", help="input image (PNG, JPEG, ...)")
    parser.add_argument("--out", required=True, help="output PNG of class indices")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: runtime's choice)")
    parser.add_argument("--model-size", action="store_true", help="write the mask at the model's input size")
    args = parser.parse_args(argv)
    from PIL import Image

    try:
        mask = segment(args.model, args.image, args.threads, args.model_size)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    Image.fromarray(mask).save(args.out)
    classes, counts = np.unique(mask, return_counts=True)
    summary = ", ".join(f"{c}: {100 * n / mask.size:.1f}%" for c, n in zip(classes, counts))
    print(f"wrote {args.out} ({mask.shape[1]}x{mask.shape[0]}); classes {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
