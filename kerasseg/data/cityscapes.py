"""Cityscapes fine annotations.

    ROOT/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
    ROOT/gtFine/{split}/{city}/{stem}_gtFine_labelIds.png        label IDs 0..33 (cityscapesScripts labels.py)
    ROOT/gtFine/{split}/{city}/{stem}_gtFine_labelTrainIds.png   or already converted: 0..18 and 255

Label mapping (label_type="labelIds"): the 19 evaluated IDs map to train IDs 0..18 (`CITYSCAPES_ID_TO_TRAIN_ID`:
road 7 -> 0, sidewalk 8 -> 1, building 11 -> 2, ... bicycle 33 -> 18); the other 15 IDs (unlabeled, ego
vehicle, ..., parking, rail track, guard rail, bridge, tunnel, polegroup, caravan, trailer) are ignored; a value
above 33 is an error. label_type="labelTrainIds": 0..18 are classes, 255 is ignored.
"""
import os

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.classes import CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_TRAIN_ID
from kerasseg.data.decode import LabelMap, MaskFormat, files_dataset

CITYSCAPES_SPLITS = ("train", "val", "test")
LABEL_TYPES = ("labelIds", "labelTrainIds")
_IMAGE_SUFFIX = "_leftImg8bit.png"


def cityscapes_label_map(label_type="labelIds", ignore_class=IGNORE_CLASS):
    """Label IDs -> 19 train IDs (others ignored), or train-ID masks (255 ignored)."""
    num_classes = len(CITYSCAPES_CLASSES)
    if label_type == "labelIds":
        mapping = {label_id: (ignore_class if train_id == 255 else train_id)
                   for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items()}
        return LabelMap(mapping, num_classes, ignore_class,
                        "Cityscapes labelIds: 0..33, 19 of them train classes, the rest ignored")
    if label_type == "labelTrainIds":
        mapping = {k: k for k in range(num_classes)}
        mapping[255] = ignore_class
        return LabelMap(mapping, num_classes, ignore_class, "Cityscapes labelTrainIds: 0..18, 255 ignored")
    raise ValueError(f"label_type must be one of {LABEL_TYPES}; got {label_type!r}")


def cityscapes_pairs(root, split, label_type="labelIds"):
    """(image, mask) paths of a split, sorted by city and file name."""
    if split not in CITYSCAPES_SPLITS:
        raise ValueError(f"split must be one of {CITYSCAPES_SPLITS}; got {split!r}")
    if label_type not in LABEL_TYPES:
        raise ValueError(f"label_type must be one of {LABEL_TYPES}; got {label_type!r}")
    images_root = os.path.join(root, "leftImg8bit", split)
    masks_root = os.path.join(root, "gtFine", split)
    for path in (images_root, masks_root):
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Cityscapes split {split!r}: {path!r} is not a directory")
    pairs = []
    for city in sorted(os.listdir(images_root)):
        city_dir = os.path.join(images_root, city)
        if not os.path.isdir(city_dir):
            continue
        for name in sorted(os.listdir(city_dir)):
            if not name.endswith(_IMAGE_SUFFIX):
                continue
            stem = name[: -len(_IMAGE_SUFFIX)]
            mask = os.path.join(masks_root, city, f"{stem}_gtFine_{label_type}.png")
            if not os.path.isfile(mask):
                raise FileNotFoundError(f"image {os.path.join(city_dir, name)!r} has no mask {mask!r}")
            pairs.append((os.path.join(city_dir, name), mask))
    if not pairs:
        raise ValueError(f"no *{_IMAGE_SUFFIX} images under {images_root!r}")
    return pairs


def cityscapes_dataset(root, split="train", label_type="labelIds", ignore_class=IGNORE_CLASS,
                       shuffle_files=False, seed=None, on_error="raise", skipped=None, with_file_names=False):
    """Cityscapes (19 train classes) as (image float32 [1024, 2048, 3], label int32 [1024, 2048]).

    Args:
        root: the folder holding leftImg8bit/ and gtFine/.
        split: "train" (2975), "val" (500) or "test" (1525; its public labels are all ignored).
        label_type: "labelIds" (mapped to train IDs) or "labelTrainIds" (already converted).
        ignore_class: label of ignored pixels.
        shuffle_files, seed: shuffle the file order, deterministically under `seed`.
        on_error, skipped, with_file_names: see `kerasseg.data.decode.read_dataset`.

    Returns:
        A `tf.data.Dataset` of (image, label); class names in `kerasseg.data.CITYSCAPES_CLASSES`.
    """
    label_map = cityscapes_label_map(label_type, ignore_class)
    pairs = cityscapes_pairs(root, split, label_type)
    return files_dataset([p[0] for p in pairs], [p[1] for p in pairs], label_map, MaskFormat(),
                         on_error=on_error, skipped=skipped, shuffle_files=shuffle_files, seed=seed,
                         with_file_names=with_file_names)
