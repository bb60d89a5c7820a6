"""Datasets named by a recipe's `data` section."""
import dataclasses
import pathlib

import numpy as np

from kerasseg import data as kdata
from kerasseg import viz
from kerasseg.training.config import ConfigError


@dataclasses.dataclass
class SplitData:
    """The datasets of a recipe.

    Attributes:
        train: unbatched (image, label) pairs of the training split, before augmentation.
        val: unbatched (image, label) pairs of the validation split.
        num_classes: number of classes.
        class_names: one name per class.
        palette: uint8 [num_classes, 3] colours for plots.
    """

    train: object
    val: object
    num_classes: int
    class_names: list
    palette: np.ndarray


def _folder_split(split, data_config, num_classes, base_dir, key):
    split = dict(split)
    if not split:
        raise ConfigError(f"'data.{key}' needs list_file, or images_dir and masks_dir, for dataset 'folder'.")
    for path_key in ("list_file", "images_dir", "masks_dir"):
        if split.get(path_key) is not None:
            path = pathlib.Path(split[path_key])
            split[path_key] = str(path if path.is_absolute() else base_dir / path)
    return kdata.folder_dataset(num_classes=num_classes, void_class=data_config["void_class"], **split)


def build_datasets(config, base_dir="."):
    """Builds the training and validation datasets of a validated recipe.

    Args:
        config: a recipe from `kerasseg.training.load_config`.
        base_dir: folder that relative dataset paths are resolved against.

    Returns:
        A `SplitData`.
    """
    data_config = config["data"]
    if data_config["dataset"] == "shapes":
        class_names = list(kdata.SHAPES_CLASSES)
        train = kdata.shapes_dataset(image_size=data_config["image_size"], **data_config["train"])
        val = kdata.shapes_dataset(image_size=data_config["image_size"], **data_config["val"])
        palette = np.asarray(kdata.SHAPES_PALETTE, np.uint8)
    else:
        class_names = data_config["class_names"]
        num_classes = config["model"]["num_classes"] or (len(class_names) if class_names else None)
        if not num_classes:
            raise ConfigError("dataset 'folder' needs 'model.num_classes' or 'data.class_names'.")
        class_names = class_names or [f"class_{i}" for i in range(num_classes)]
        base_dir = pathlib.Path(base_dir)
        train = _folder_split(data_config["train"], data_config, num_classes, base_dir, "train")
        val = _folder_split(data_config["val"], data_config, num_classes, base_dir, "val")
        palette = viz.default_palette(num_classes)
    num_classes = config["model"]["num_classes"] or len(class_names)
    if num_classes != len(class_names):
        raise ConfigError(f"'model.num_classes' is {num_classes} but the dataset has {len(class_names)} classes "
                          f"({', '.join(class_names)}).")
    return SplitData(train=train, val=val, num_classes=num_classes, class_names=class_names, palette=palette)
