"""Data for kerasseg: readers, the synthetic shapes set, augmentation pipelines and class weights.

Every reader yields `(image, label)` pairs: image float32 [H, W, 3] RGB with values in [0, 255] (not scaled:
models normalise internally) and label int32 [H, W] with `IGNORE_CLASS` (255) marking pixels to ignore.
"""
IGNORE_CLASS = 255

from kerasseg.data.class_weights import class_counts, class_frequencies, enet_class_weights  # noqa: E402
from kerasseg.data.folder import folder_dataset  # noqa: E402
from kerasseg.data.pipeline import eval_pipeline, pad_to_multiple_of, random_scale_crop_flip, train_pipeline  # noqa: E402,E501
from kerasseg.data.shapes import SHAPES_CLASSES, SHAPES_PALETTE, shapes_dataset  # noqa: E402

__all__ = [
    "IGNORE_CLASS",
    "SHAPES_CLASSES",
    "SHAPES_PALETTE",
    "class_counts",
    "class_frequencies",
    "enet_class_weights",
    "eval_pipeline",
    "folder_dataset",
    "pad_to_multiple_of",
    "random_scale_crop_flip",
    "shapes_dataset",
    "train_pipeline",
]
