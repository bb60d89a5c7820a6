"""Pascal VOC 2012 segmentation, with the optional SBD "trainaug" split.

    ROOT/JPEGImages/{id}.jpg
    ROOT/SegmentationClass/{id}.png            palette-indexed PNGs (the VOC colour map)
    ROOT/ImageSets/Segmentation/{train,val,trainval}.txt   one id a line
    ROOT/SegmentationClassAug/{id}.png         SBD-augmented masks, single-channel PNGs (split "trainaug")
    ROOT/ImageSets/Segmentation/trainaug.txt   ids, or `/JPEGImages/x.jpg /SegmentationClassAug/x.png` pairs

ROOT is `VOCdevkit/VOC2012`. Label mapping: palette index k in 0..20 is class `VOC_CLASSES[k]` (0 background),
index 255 (the boundary band drawn around objects) is ignored, any other index is an error. TensorFlow decodes
palette PNGs to RGB; the VOC colour map gives every index a distinct colour, so the colour is mapped back to its
index exactly, and a colour outside the VOC map is an error naming the file. Single-channel masks (SBD's
SegmentationClassAug) are read as the index values directly.
"""
import os

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.classes import VOC_BOUNDARY, VOC_CLASSES, voc_colormap
from kerasseg.data.decode import LabelMap, MaskFormat, files_dataset
from kerasseg.data.folder import _pairs_from_list_of_ids, read_list_file

VOC_SPLITS = ("train", "val", "trainval", "trainaug")


def voc_label_map(ignore_class=IGNORE_CLASS):
    """VOC: indices 0..20 -> classes, 255 (boundary) -> ignored."""
    mapping = {k: k for k in range(len(VOC_CLASSES))}
    mapping[VOC_BOUNDARY] = ignore_class
    return LabelMap(mapping, len(VOC_CLASSES), ignore_class,
                    "VOC: 0..20 are classes, 255 is the ignored boundary")


VOC_MASKS = MaskFormat(voc_colormap(256), accept_index=True, name="the VOC colour map")


def _trainaug_pairs(root, list_file, masks_dir):
    def line_to_pair(fields, location):
        if len(fields) == 1:
            return os.path.join(root, "JPEGImages", fields[0] + ".jpg"), os.path.join(masks_dir, fields[0] + ".png")
        if len(fields) == 2:
            return tuple(os.path.join(root, field.lstrip("/")) for field in fields)
        raise ValueError(f"{location}: expected an id or 'IMAGE MASK', got {' '.join(fields)!r}")

    return read_list_file(list_file, line_to_pair, "samples")


def voc_pairs(root, split, list_file=None, masks_dir=None):
    """(image, mask) paths of a VOC split (see the module docstring for the layout)."""
    if split not in VOC_SPLITS:
        raise ValueError(f"split must be one of {VOC_SPLITS}; got {split!r}")
    if not os.path.isdir(os.path.join(root, "JPEGImages")):
        raise FileNotFoundError(f"VOC root {root!r} has no JPEGImages/ folder (give VOCdevkit/VOC2012)")
    list_file = list_file or os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"VOC split {split!r}: list file {list_file!r} does not exist")
    if split == "trainaug":
        masks_dir = masks_dir or os.path.join(root, "SegmentationClassAug")
        return _trainaug_pairs(root, list_file, masks_dir)
    masks_dir = masks_dir or os.path.join(root, "SegmentationClass")
    return _pairs_from_list_of_ids(list_file, os.path.join(root, "JPEGImages", "{id}.jpg"),
                                   os.path.join(masks_dir, "{id}.png"))


def voc_dataset(root, split="train", list_file=None, masks_dir=None, ignore_class=IGNORE_CLASS,
                shuffle_files=False, seed=None, on_error="raise", skipped=None, with_file_names=False):
    """Pascal VOC 2012 (21 classes, boundary 255 ignored) as (image float32 [H, W, 3], label int32 [H, W]).

    Args:
        root: `VOCdevkit/VOC2012`.
        split: "train" (1464), "val" (1449), "trainval", or "trainaug" (SBD-augmented, 10582).
        list_file: override the split's list file (ids, or for trainaug also `IMAGE MASK` pairs).
        masks_dir: override the mask folder (default SegmentationClass/, SegmentationClassAug/ for trainaug).
        ignore_class: label of boundary pixels.
        shuffle_files, seed: shuffle the file order, deterministically under `seed`.
        on_error, skipped, with_file_names: see `kerasseg.data.decode.read_dataset`.

    Returns:
        A `tf.data.Dataset` of (image, label); class names in `kerasseg.data.VOC_CLASSES`.
    """
    pairs = voc_pairs(root, split, list_file, masks_dir)
    return files_dataset([p[0] for p in pairs], [p[1] for p in pairs], voc_label_map(ignore_class), VOC_MASKS,
                         on_error=on_error, skipped=skipped, shuffle_files=shuffle_files, seed=seed,
                         with_file_names=with_file_names)
