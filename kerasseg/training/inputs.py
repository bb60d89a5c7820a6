"""Datasets named by a recipe's `data` section."""
import dataclasses
import pathlib

import numpy as np
import tensorflow as tf

from kerasseg import data as kdata
from kerasseg import viz
from kerasseg.training.config import NAMED_DATASETS, ConfigError


@dataclasses.dataclass
class SplitData:
    """The datasets of a recipe.

    Attributes:
        train: unbatched (image, label) pairs of the training split, before augmentation.
        val: unbatched (image, label) pairs of the validation split.
        num_classes: number of classes.
        class_names: one name per class.
        palette: uint8 [num_classes, 3] colours for plots.
        skipped: the `kerasseg.data.SkippedSamples` log of both splits with `data.on_error: skip`, else None.
    """

    train: object
    val: object
    num_classes: int
    class_names: list
    palette: np.ndarray
    skipped: object = None


def _resolve(path, base_dir):
    if "://" in str(path):  # gs://, s3://, ...: a TensorFlow filesystem path
        return str(path)
    path = pathlib.Path(path)
    return str(path if path.is_absolute() else base_dir / path)


def _folder_split(split, data_config, num_classes, base_dir, key, error_options):
    split = dict(split)
    if not split:
        raise ConfigError(f"'data.{key}' needs list_file, or images_dir and masks_dir, for dataset 'folder'.")
    for path_key in ("list_file", "images_dir", "masks_dir"):
        if split.get(path_key) is not None:
            split[path_key] = _resolve(split[path_key], base_dir)
    if split.get("palette") is None:
        split.setdefault("void_class", data_config["void_class"])
    return kdata.folder_dataset(num_classes=num_classes, **error_options, **split)


def _tfrecord_split(split, num_classes, base_dir, key, error_options):
    split = dict(split)
    if not split.get("files"):
        raise ConfigError(f"'data.{key}' needs 'files' (a glob pattern or a list of shards) for dataset "
                          "'tfrecord'.")
    files = split.pop("files")
    files = _resolve(files, base_dir) if isinstance(files, str) else [_resolve(f, base_dir) for f in files]
    dataset = kdata.tfrecord_dataset(files, num_classes=num_classes, **error_options, **split)
    if error_options["on_error"] == "raise":
        # A known length lets the trainer derive steps_per_epoch (one pass over the shards to count).
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(kdata.tfrecord.count_records(files)))
    return dataset


def _named_split(info, root, split, key, error_options):
    split = dict(split)
    split.setdefault("split", info.train_split if key == "train" else info.val_split)
    return info.reader(root, **error_options, **split)


def build_datasets(config, base_dir="."):
    """Builds the training and validation datasets of a validated recipe.

    Args:
        config: a recipe from `kerasseg.training.load_config`.
        base_dir: folder that relative dataset paths are resolved against.

    Returns:
        A `SplitData`.
    """
    data_config = config["data"]
    base_dir = pathlib.Path(base_dir)
    skipped = kdata.SkippedSamples() if data_config["on_error"] == "skip" else None
    error_options = {"on_error": data_config["on_error"], "skipped": skipped}
    if data_config["dataset"] == "shapes":
        class_names = list(kdata.SHAPES_CLASSES)
        train = kdata.shapes_dataset(image_size=data_config["image_size"], **data_config["train"])
        val = kdata.shapes_dataset(image_size=data_config["image_size"], **data_config["val"])
        palette = np.asarray(kdata.SHAPES_PALETTE, np.uint8)
    elif data_config["dataset"] in NAMED_DATASETS:
        info = kdata.dataset_info(data_config["dataset"])
        class_names = list(info.class_names)
        palette = np.asarray(info.palette, np.uint8)
        root = _resolve(data_config["root"], base_dir)
        train = _named_split(info, root, data_config["train"], "train", error_options)
        val = _named_split(info, root, data_config["val"], "val", error_options)
    else:
        class_names = data_config["class_names"]
        num_classes = config["model"]["num_classes"] or (len(class_names) if class_names else None)
        if not num_classes:
            raise ConfigError(f"dataset {data_config['dataset']!r} needs 'model.num_classes' or 'data.class_names'.")
        class_names = class_names or [f"class_{i}" for i in range(num_classes)]
        if data_config["dataset"] == "folder":
            train = _folder_split(data_config["train"], data_config, num_classes, base_dir, "train", error_options)
            val = _folder_split(data_config["val"], data_config, num_classes, base_dir, "val", error_options)
        else:
            train = _tfrecord_split(data_config["train"], num_classes, base_dir, "train", error_options)
            val = _tfrecord_split(data_config["val"], num_classes, base_dir, "val", error_options)
        palette = viz.default_palette(num_classes)
    num_classes = config["model"]["num_classes"] or len(class_names)
    if num_classes < 2:
        raise ConfigError(f"the dataset has {num_classes} class ({', '.join(class_names)}), but kerasseg trains "
                          "softmax heads: a binary task has 2 classes; list the background too in "
                          "'data.class_names' (e.g. [background, foreground]).")
    if num_classes != len(class_names):
        raise ConfigError(f"'model.num_classes' is {num_classes} but the dataset has {len(class_names)} classes "
                          f"({', '.join(class_names)}).")
    return SplitData(train=train, val=val, num_classes=num_classes, class_names=class_names, palette=palette,
                     skipped=skipped)
