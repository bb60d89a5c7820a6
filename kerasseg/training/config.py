"""YAML training recipes: defaults, loading and validation.

A recipe has five sections; see `configs/enet_shapes_64x64.yaml` for a commented example.

    model:   name (registry), num_classes (optional: the dataset's), and builder options
    data:    dataset ("shapes", "folder", "tfrecord", "camvid", "voc", "cityscapes", "ade20k"), root and splits,
             crop_size, scale_range, flip, rotation_degrees, photometric, batch_size, on_error
    train:   epochs, learning_rate, weight_decay, poly_power, class_weighting, seed, ...
    export:  formats, input_size, calibration/parity sample counts (used by `kerasseg export`)
    output_dir
"""
import copy
import os
import pathlib
import re

import yaml

from kerasseg.export.formats import FORMATS

DEFAULTS = {
    "model": {"name": None, "num_classes": None, "options": {}, "initial_weights": None},
    "data": {
        "dataset": "shapes",
        "root": None,
        "image_size": [96, 96],
        "class_names": None,
        "void_class": None,
        "train": {},
        "val": {},
        "crop_size": None,
        "scale_range": [0.5, 2.0],
        "flip": True,
        "rotation_degrees": 0.0,
        "photometric": False,
        "image_pad_value": 0.0,
        "on_error": "raise",
        "batch_size": 8,
        "val_batch_size": None,
    },
    "train": {
        "epochs": 10,
        "steps_per_epoch": None,
        "learning_rate": 5.0e-4,
        "weight_decay": 2.0e-4,
        "optimizer": "adam",
        "weight_decay_mode": "decoupled",
        "lr_schedule": "poly",
        "poly_power": 0.9,
        "lr_step_epochs": None,
        "lr_step_factor": 0.1,
        "class_weighting": "none",
        "aux_loss_weight": 0.4,
        "seed": 0,
        "distribution": "auto",
        "mixed_precision": False,
        "jit_compile": False,
        "overlay_samples": 4,
    },
    "export": {
        "formats": list(FORMATS),
        "input_size": None,
        "calibration_samples": 64,
        "parity_samples": 16,
        "int8_io": "uint8",
    },
    "output_dir": None,
}

# Sections whose keys belong to the builder or the dataset reader, passed on as they are.
FREE_FORM = ("model.options", "data.train", "data.val", "data.photometric")
CLASS_WEIGHTINGS = ("none", "enet", "median_frequency")
NAMED_DATASETS = ("camvid", "voc", "cityscapes", "ade20k")
DATASET_KINDS = ("shapes", "folder", "tfrecord") + NAMED_DATASETS
DISTRIBUTIONS = ("auto", "default", "mirrored")
WEIGHT_DECAY_MODES = ("decoupled", "l2")
LR_SCHEDULES = ("poly", "step")
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


def _merge(defaults, given, where, source):
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ConfigError(f"{source}: unknown key '{where}{key}'; expected one of {sorted(defaults)}.")
        if isinstance(defaults[key], dict) and f"{where}{key}" not in FREE_FORM:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{where}{key}' must be a mapping, got {value!r}.")
            merged[key] = _merge(defaults[key], value, f"{where}{key}.", source)
        else:
            merged[key] = value
    return merged


def _pair(value, key, source):
    if value is None:
        return None
    if isinstance(value, int):
        value = [value, value]
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0
                                                                         for v in value)):
        raise ConfigError(f"{source}: '{key}' must be two positive integers [height, width], got {value!r}.")
    return [int(v) for v in value]


def _expand_env(value, key, source):
    """Replaces ${VAR} in a string value with the environment variable; an unset variable is an error."""
    if not isinstance(value, str):
        return value

    def substitute(match):
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{source}: '{key}' uses ${{{name}}}, but the environment variable {name} is not "
                              f"set; set it (e.g. export {name}=/path/to/the/dataset).")
        return os.environ[name]

    return _ENV_VAR.sub(substitute, value)


def validate_config(config, source="config"):
    """Fills defaults into a recipe dict and checks it.

    Args:
        config: the recipe as a dict (e.g. parsed YAML).
        source: where it came from, for error messages.

    Returns:
        A new dict with every key present.

    Raises:
        ConfigError: naming the source and key of the first problem.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: a recipe is a mapping with model/data/train/export sections.")
    config = _merge(DEFAULTS, config, "", source)
    if not config["model"]["name"]:
        raise ConfigError(f"{source}: 'model.name' is required.")
    data, train = config["data"], config["train"]
    data["root"] = _expand_env(data["root"], "data.root", source)
    initial = config["model"]["initial_weights"]
    if initial is not None and not isinstance(initial, str):
        raise ConfigError(f"{source}: 'model.initial_weights' must be the path of a .keras file, got {initial!r}.")
    data["image_size"] = _pair(data["image_size"], "data.image_size", source)
    data["crop_size"] = _pair(data["crop_size"], "data.crop_size", source) or data["image_size"]
    config["export"]["input_size"] = (
        _pair(config["export"]["input_size"], "export.input_size", source) or data["crop_size"])
    low_high = data["scale_range"]
    if not (isinstance(low_high, (list, tuple)) and len(low_high) == 2 and 0 < low_high[0] <= low_high[1]):
        raise ConfigError(f"{source}: 'data.scale_range' must be [low, high] with 0 < low <= high, got {low_high!r}.")
    if data["dataset"] not in DATASET_KINDS:
        raise ConfigError(f"{source}: 'data.dataset' must be one of {DATASET_KINDS}, got {data['dataset']!r}.")
    if data["dataset"] in NAMED_DATASETS and not data["root"]:
        raise ConfigError(f"{source}: 'data.root' (the dataset's folder) is required for dataset "
                          f"{data['dataset']!r}.")
    if data["on_error"] not in ("raise", "skip"):
        raise ConfigError(f"{source}: 'data.on_error' must be 'raise' or 'skip', got {data['on_error']!r}.")
    rotation = data["rotation_degrees"]
    if not isinstance(rotation, (int, float)) or isinstance(rotation, bool) or not 0 <= rotation <= 180:
        raise ConfigError(f"{source}: 'data.rotation_degrees' must be a number in [0, 180], got {rotation!r}.")
    if not isinstance(data["photometric"], (bool, dict)):
        raise ConfigError(f"{source}: 'data.photometric' must be true, false or a mapping of jitter ranges, "
                          f"got {data['photometric']!r}.")
    for key in ("epochs", "batch_size"):
        section = train if key == "epochs" else data
        if not isinstance(section[key], int) or section[key] < 1:
            raise ConfigError(f"{source}: '{'train' if key == 'epochs' else 'data'}.{key}' must be a positive "
                              f"integer, got {section[key]!r}.")
    if train["class_weighting"] not in CLASS_WEIGHTINGS:
        raise ConfigError(f"{source}: 'train.class_weighting' must be one of {CLASS_WEIGHTINGS}, "
                          f"got {train['class_weighting']!r}.")
    weight = train["aux_loss_weight"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ConfigError(f"{source}: 'train.aux_loss_weight' must be a number >= 0, got {weight!r}.")
    if train["optimizer"] != "adam":
        raise ConfigError(f"{source}: 'train.optimizer' must be 'adam', got {train['optimizer']!r}.")
    if train["weight_decay_mode"] not in WEIGHT_DECAY_MODES:
        raise ConfigError(f"{source}: 'train.weight_decay_mode' must be one of {WEIGHT_DECAY_MODES}, "
                          f"got {train['weight_decay_mode']!r}.")
    if train["lr_schedule"] not in LR_SCHEDULES:
        raise ConfigError(f"{source}: 'train.lr_schedule' must be one of {LR_SCHEDULES}, "
                          f"got {train['lr_schedule']!r}.")
    if train["lr_schedule"] == "step":
        every, factor = train["lr_step_epochs"], train["lr_step_factor"]
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"{source}: 'train.lr_step_epochs' must be a positive integer with lr_schedule "
                              f"'step', got {every!r}.")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ConfigError(f"{source}: 'train.lr_step_factor' must be a number in (0, 1), got {factor!r}.")
    if train["distribution"] not in DISTRIBUTIONS:
        raise ConfigError(f"{source}: 'train.distribution' must be one of {DISTRIBUTIONS}, "
                          f"got {train['distribution']!r}.")
    if not config["output_dir"]:
        config["output_dir"] = str(pathlib.Path("runs") / config["model"]["name"])
    return config


def load_config(path):
    """Reads and validates a YAML recipe.

    Args:
        path: path of the YAML file.

    Returns:
        The validated recipe dict (see `validate_config`).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return validate_config(raw or {}, source=str(path))


def save_config(config, path):
    """Writes a recipe as YAML (the trainer stores one beside its checkpoints for `kerasseg export`)."""
    pathlib.Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
