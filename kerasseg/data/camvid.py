"""CamVid, 11-class road-scene version in the SegNet/ENet layout.

    ROOT/train.txt, val.txt, test.txt   one `IMAGE LABEL` pair per line, relative to ROOT (used when present)
    ROOT/train/, trainannot/            otherwise: frames and single-channel label PNGs of the same name
    ROOT/val/, valannot/, test/, testannot/

Label mapping: mask value k in 0..10 is class `CAMVID_CLASSES[k]`; 11 (Unlabelled/void) is ignored; any other
value is an error naming the file.
"""
import os

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.classes import CAMVID_CLASSES, CAMVID_VOID
from kerasseg.data.decode import LabelMap, MaskFormat, files_dataset
from kerasseg.data.folder import _pairs_from_folders, _pairs_from_list

CAMVID_SPLITS = ("train", "val", "test")


def camvid_label_map(ignore_class=IGNORE_CLASS):
    """CamVid: values 0..10 -> classes, 11 (void) -> ignored."""
    mapping = {k: k for k in range(len(CAMVID_CLASSES))}
    mapping[CAMVID_VOID] = ignore_class
    return LabelMap(mapping, len(CAMVID_CLASSES), ignore_class,
                    "CamVid: 0..10 are classes, 11 is void (ignored)")


def camvid_pairs(root, split):
    """(image, mask) paths of a split: from `ROOT/{split}.txt` if present, else `{split}/` + `{split}annot/`."""
    if split not in CAMVID_SPLITS:
        raise ValueError(f"split must be one of {CAMVID_SPLITS}; got {split!r}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"CamVid root {root!r} is not a directory")
    list_file = os.path.join(root, f"{split}.txt")
    if os.path.isfile(list_file):
        return _pairs_from_list(list_file)
    images_dir, masks_dir = os.path.join(root, split), os.path.join(root, f"{split}annot")
    if not os.path.isdir(images_dir):
        raise FileNotFoundError(f"CamVid split {split!r}: neither {list_file!r} nor {images_dir!r} exists")
    return _pairs_from_folders(images_dir, masks_dir)


def camvid_dataset(root, split="train", ignore_class=IGNORE_CLASS, shuffle_files=False, seed=None,
                   on_error="raise", skipped=None, with_file_names=False):
    """CamVid (11 classes, void ignored) as (image float32 [360, 480, 3], label int32 [360, 480]).

    Args:
        root: the folder holding `train.txt` / `train/` etc.
        split: "train" (367 images), "val" (101) or "test" (233, when present).
        ignore_class: label of void pixels.
        shuffle_files, seed: shuffle the file order, deterministically under `seed`.
        on_error, skipped, with_file_names: see `kerasseg.data.decode.read_dataset`.

    Returns:
        A `tf.data.Dataset` of (image, label); class names in `kerasseg.data.CAMVID_CLASSES`.
    """
    pairs = camvid_pairs(root, split)
    return files_dataset([p[0] for p in pairs], [p[1] for p in pairs], camvid_label_map(ignore_class),
                         MaskFormat(), on_error=on_error, skipped=skipped, shuffle_files=shuffle_files, seed=seed,
                         with_file_names=with_file_names)
