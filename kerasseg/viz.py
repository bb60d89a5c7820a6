"""Plots: class colours, overlays, prediction grids and training curves (matplotlib, no display needed)."""
import csv
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

IGNORE_COLOUR = (0, 0, 0)


def default_palette(num_classes):
    """Distinct colours for `num_classes` classes (tab20, or evenly spaced hues past 20).

    Returns:
        uint8 array [num_classes, 3].
    """
    cmap = matplotlib.colormaps["tab20" if num_classes <= 20 else "hsv"]
    colours = [cmap(i if num_classes <= 20 else i / num_classes)[:3] for i in range(num_classes)]
    return (np.asarray(colours) * 255).round().astype(np.uint8)


def colorize(mask, palette, ignore_class=255):
    """Maps a class-index mask [H, W] to RGB uint8 [H, W, 3]; ignored (and out-of-palette) pixels are black."""
    palette = np.asarray(palette, np.uint8)
    mask = np.asarray(mask)
    known = (mask >= 0) & (mask < len(palette)) & (mask != ignore_class)
    rgb = np.zeros(mask.shape + (3,), np.uint8)
    rgb[known] = palette[mask[known]]
    rgb[~known] = IGNORE_COLOUR
    return rgb


def overlay(image, mask, palette, alpha=0.5, ignore_class=255):
    """Blends a colourised mask over an RGB image ([0, 255], [H, W, 3]); ignored pixels keep the image.

    Returns:
        uint8 [H, W, 3].
    """
    image = np.clip(np.asarray(image, np.float32), 0, 255)
    colours = colorize(mask, palette, ignore_class).astype(np.float32)
    blend = (1 - alpha) * image + alpha * colours
    ignored = np.asarray(mask) == ignore_class
    blend[ignored] = image[ignored]
    return blend.round().astype(np.uint8)


def save_prediction_grid(images, labels, predictions, palette, path, class_names=None, ignore_class=255):
    """Writes a PNG with one row per sample: image | ground truth overlay | prediction overlay.

    Args:
        images: float or uint8 [N, H, W, 3] in [0, 255].
        labels: int [N, H, W] (may contain `ignore_class`).
        predictions: int [N, H, W].
        palette: uint8 [num_classes, 3].
        path: output PNG path.
        class_names: optional names for a legend.
        ignore_class: label value drawn as "ignored".

    Returns:
        The path written.
    """
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n + (0.6 if class_names else 0)), squeeze=False)
    for row in range(n):
        panels = [
            (np.clip(images[row], 0, 255).astype(np.uint8), "image"),
            (overlay(images[row], labels[row], palette, ignore_class=ignore_class), "ground truth"),
            (overlay(images[row], predictions[row], palette, ignore_class=ignore_class), "prediction"),
        ]
        for ax, (picture, title) in zip(axes[row], panels):
            ax.imshow(picture)
            ax.set_title(title if row == 0 else "", fontsize=10)
            ax.axis("off")
    if class_names:
        handles = [matplotlib.patches.Patch(color=np.asarray(palette[i]) / 255, label=name)
                   for i, name in enumerate(class_names)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05 if class_names else 0, 1, 1))
    path = pathlib.Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_history(history_csv, path):
    """Plots loss and mean IoU per epoch (train and validation) from a Keras `CSVLogger` file.

    Returns:
        The path written, or None when the CSV has no rows.
    """
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key in zip(axes, ("loss", "mean_iou")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in rows[0]:
                ax.plot(epochs, [float(r[prefix + key]) for r in rows], style, marker="o",
                        label=(prefix or "train_").rstrip("_"))
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
