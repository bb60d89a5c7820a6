"""The named datasets: reader, class names, palette and splits of each, under one name.

    info = kerasseg.data.dataset_info("camvid")         # class_names, palette, splits, reader
    train = kerasseg.data.load_dataset("camvid", "/data/camvid", "train")
"""
import dataclasses

import numpy as np

from kerasseg.errors import check_name

from kerasseg.data.ade20k import ade20k_dataset
from kerasseg.data.camvid import camvid_dataset
from kerasseg.data.cityscapes import cityscapes_dataset
from kerasseg.data.classes import (ADE20K_CLASSES, ADE20K_PALETTE, CAMVID_CLASSES, CAMVID_PALETTE,
                                   CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, VOC_CLASSES, VOC_PALETTE)
from kerasseg.data.voc import voc_dataset


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A named dataset.

    Attributes:
        name: its name in recipes and on the command line.
        reader: function(root, split, **options) -> tf.data.Dataset of (image, label).
        class_names: names of the classes in label order.
        palette: uint8 [num_classes, 3] display colours.
        splits: the split names the reader accepts.
        train_split, val_split: the splits a recipe uses by default.
    """

    name: str
    reader: object
    class_names: tuple
    palette: np.ndarray
    splits: tuple
    train_split: str
    val_split: str

    @property
    def num_classes(self):
        return len(self.class_names)


DATASETS = {
    "camvid": DatasetInfo("camvid", camvid_dataset, CAMVID_CLASSES, CAMVID_PALETTE, ("train", "val", "test"),
                          "train", "val"),
    "voc": DatasetInfo("voc", voc_dataset, VOC_CLASSES, VOC_PALETTE, ("train", "val", "trainval", "trainaug"),
                       "train", "val"),
    "cityscapes": DatasetInfo("cityscapes", cityscapes_dataset, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE,
                              ("train", "val", "test"), "train", "val"),
    "ade20k": DatasetInfo("ade20k", ade20k_dataset, ADE20K_CLASSES, ADE20K_PALETTE,
                          ("training", "validation"), "training", "validation"),
}


def dataset_info(name):
    """The `DatasetInfo` of a named dataset ("camvid", "voc", "cityscapes", "ade20k")."""
    check_name("dataset", name, sorted(DATASETS))
    return DATASETS[name]


def load_dataset(name, root, split=None, **options):
    """Read a split of a named dataset: `load_dataset("voc", "VOCdevkit/VOC2012", "val")`.

    Args:
        name: a key of `DATASETS`.
        root: the dataset's root folder.
        split: a split name (default: the dataset's training split).
        **options: passed to the reader (e.g. on_error="skip", shuffle_files=True, seed=0).

    Returns:
        A `tf.data.Dataset` of (image float32 [H, W, 3], label int32 [H, W]).
    """
    info = dataset_info(name)
    return info.reader(root, split or info.train_split, **options)
