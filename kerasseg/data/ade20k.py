"""ADE20K SceneParsing (ADEChallengeData2016), 150 classes.

    ROOT/images/{training,validation}/ADE_train_00000001.jpg
    ROOT/annotations/{training,validation}/ADE_train_00000001.png   single-channel, values 0..150

Label mapping: value 0 ("other objects", not one of the 150) is ignored; value k in 1..150 is class k - 1
(`ADE20K_CLASSES[k - 1]`); a value above 150 is an error naming the file.
"""
import os

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.classes import ADE20K_CLASSES
from kerasseg.data.decode import LabelMap, MaskFormat, files_dataset
from kerasseg.data.folder import _pairs_from_folders

ADE20K_SPLITS = {"training": "training", "train": "training", "validation": "validation", "val": "validation"}


def ade20k_label_map(ignore_class=IGNORE_CLASS):
    """ADE20K: 0 -> ignored, k in 1..150 -> class k - 1."""
    mapping = {k: k - 1 for k in range(1, len(ADE20K_CLASSES) + 1)}
    mapping[0] = ignore_class
    return LabelMap(mapping, len(ADE20K_CLASSES), ignore_class,
                    "ADE20K: 0 is 'other' (ignored), 1..150 are classes 0..149")


def ade20k_dataset(root, split="training", ignore_class=IGNORE_CLASS, shuffle_files=False, seed=None,
                   on_error="raise", skipped=None, with_file_names=False):
    """ADE20K SceneParsing (150 classes) as (image float32 [H, W, 3], label int32 [H, W]), sizes vary.

    Args:
        root: `ADEChallengeData2016`.
        split: "training" (20210 images) or "validation" (2000); "train"/"val" are accepted.
        ignore_class: label of "other" pixels.
        shuffle_files, seed: shuffle the file order, deterministically under `seed`.
        on_error, skipped, with_file_names: see `kerasseg.data.decode.read_dataset`.

    Returns:
        A `tf.data.Dataset` of (image, label); class names in `kerasseg.data.ADE20K_CLASSES`.
    """
    if split not in ADE20K_SPLITS:
        raise ValueError(f"split must be one of {sorted(ADE20K_SPLITS)}; got {split!r}")
    folder = ADE20K_SPLITS[split]
    pairs = _pairs_from_folders(os.path.join(root, "images", folder), os.path.join(root, "annotations", folder))
    return files_dataset([p[0] for p in pairs], [p[1] for p in pairs], ade20k_label_map(ignore_class),
                         MaskFormat(), on_error=on_error, skipped=skipped, shuffle_files=shuffle_files, seed=seed,
                         with_file_names=with_file_names)
