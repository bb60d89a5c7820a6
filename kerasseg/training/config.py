"""YAML training recipes: one table of keys (type, default, meaning), strict loading and validation.

A recipe has five sections; see `configs/enet_shapes_64x64.yaml` for a commented example and `docs/recipe.md` (generated
from `RECIPE_KEYS` by `recipe_reference()`) for every key.

    model:   name (registry), num_classes (optional: the dataset's), and builder options
    data:    dataset, root and splits (reader options), crop, augmentation, batch size, on_error
    train:   epochs, optimizer, schedule, loss, class weighting, checkpoints, distribution, precision, seed
    export:  formats, input_size, calibration/parity sample counts (used by `kerasseg export`)
    output_dir

Loading is strict: YAML 1.1 number spellings such as `5e-3` are numbers (plain PyYAML reads them as strings),
a key given twice in one mapping is an error, and every key and value is checked, the message naming the file
and the key path. Strings may name environment variables as `${NAME}` (e.g. `root: ${KERASSEG_CAMVID_ROOT}`).
"""
import copy
import dataclasses
import inspect
import os
import pathlib
import re

import yaml

from kerasseg.data import DATASETS, PHOTOMETRIC_DEFAULTS
from kerasseg.data.class_weights import WEIGHTINGS
from kerasseg.errors import UnknownNameError
from kerasseg.export import FORMATS as EXPORT_FORMATS
from kerasseg.losses import LOSS_CLASSES
from kerasseg.training.schedules import SCHEDULES

NAMED_DATASETS = tuple(DATASETS)
DATASET_KINDS = ("shapes", "folder", "tfrecord") + NAMED_DATASETS
CLASS_WEIGHTINGS = ("none",) + tuple(WEIGHTINGS)
DISTRIBUTIONS = ("auto", "default", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "sgd")
WEIGHT_DECAY_MODES = ("decoupled", "l2")
LR_SCHEDULES = SCHEDULES
LOSSES = tuple(LOSS_CLASSES)
MIXED_PRECISION = (False, True, "mixed_float16", "mixed_bfloat16")
INT8_IO = ("uint8", "int8")
ON_ERROR = ("raise", "skip")


class ConfigError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


class _Invalid(Exception):
    """A value that fails its check; `validate_config` adds the source and key path."""


# ---------------------------------------------------------------------------------------------- value checks
def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(value):
    if not (_is_int(value) and value > 0):
        raise _Invalid(f"must be a positive integer, got {value!r}")
    return value


def _count(value):
    if not (_is_int(value) and value >= 0):
        raise _Invalid(f"must be an integer >= 0, got {value!r}")
    return value


def _number(low=None, high=None, low_open=False, high_open=False):
    def check(value):
        ok = _is_number(value) and value == value
        ok = ok and (low is None or (value > low if low_open else value >= low))
        ok = ok and (high is None or (value < high if high_open else value <= high))
        if not ok:
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if low_open else '>='} {low}")
            if high is not None:
                bounds.append(f"{'<' if high_open else '<='} {high}")
            raise _Invalid(f"must be a number{' ' + ' and '.join(bounds) if bounds else ''}, got {value!r}")
        return float(value) if isinstance(value, float) else value
    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {value!r}")
    return value


def _string(value):
    if not isinstance(value, str) or not value:
        raise _Invalid(f"must be a non-empty string, got {value!r}")
    return value


def _choice(choices):
    def check(value):
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) and c == value
                                                                   for c in choices):
            raise _Invalid(f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value
    check.choices = choices
    return check


def _nullable(check):
    def nullable(value):
        return None if value is None else check(value)
    nullable.__doc__ = check.__doc__
    return nullable


def _size(value):
    if _is_int(value):
        value = [value, value]
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value)):
        raise _Invalid(f"must be two positive integers [height, width] (or one for both), got {value!r}")
    return [int(v) for v in value]


def _scale_range(value):
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)
            and 0 < value[0] <= value[1]):
        raise _Invalid(f"must be [low, high] with 0 < low <= high, got {value!r}")
    return [float(v) for v in value]


def _mapping(value):
    if not isinstance(value, dict):
        raise _Invalid(f"must be a mapping, got {value!r}")
    return dict(value)


def _string_list(value):
    if not (isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value)):
        raise _Invalid(f"must be a non-empty list of strings, got {value!r}")
    return list(value)


def _num_classes(value):
    if value == 1 and _is_int(value):
        raise _Invalid("is 1, but kerasseg trains softmax heads: a binary task has 2 classes (background and "
                       "foreground); set num_classes: 2 (or leave it out to take the dataset's)")
    if not (_is_int(value) and value >= 2):
        raise _Invalid(f"must be an integer >= 2, got {value!r}")
    return value


def _photometric(value):
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise _Invalid(f"must be true, false or a mapping of jitter ranges, got {value!r}")
    for key in value:
        if key not in PHOTOMETRIC_DEFAULTS:
            raise _Invalid("has " + str(UnknownNameError("option", key, sorted(PHOTOMETRIC_DEFAULTS))))
    return dict(value)


def _mixed_precision(value):
    if value not in MIXED_PRECISION or (isinstance(value, int) and not isinstance(value, bool)):
        raise _Invalid("must be false, true (mixed_float16 on GPU, mixed_bfloat16 on CPU), 'mixed_float16' or "
                       f"'mixed_bfloat16', got {value!r}")
    return value


def _loss(value):
    """A loss name, or a mapping {name: weight} summed with those weights."""
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, dict) or not value:
        raise _Invalid(f"must be a loss name or a mapping {{name: weight}} of {', '.join(LOSSES)}, got {value!r}")
    for name, weight in value.items():
        if name not in LOSSES:
            raise _Invalid("has " + str(UnknownNameError("loss", name, LOSSES)))
        if not (_is_number(weight) and weight > 0):
            raise _Invalid(f"gives {name!r} the weight {weight!r}; weights must be numbers > 0")
    return {name: float(weight) for name, weight in value.items()}


def _formats(value):
    if not (isinstance(value, (list, tuple)) and value):
        raise _Invalid(f"must be a non-empty list of {', '.join(EXPORT_FORMATS)}, got {value!r}")
    for fmt in value:
        if fmt not in EXPORT_FORMATS:
            raise _Invalid("has " + str(UnknownNameError("format", fmt, EXPORT_FORMATS)))
    return list(value)


def _model_name(value):
    from kerasseg.registry import list_models

    _string(value)
    if value not in list_models():
        raise _Invalid("has " + str(UnknownNameError("model", value, list_models())))
    return value


def _required(check):
    def required(value):
        if value is None:
            raise _Invalid("is required")
        return check(value)
    return required


# ---------------------------------------------------------------------------------------------- the key table
@dataclasses.dataclass(frozen=True)
class RecipeKey:
    """One recipe key.

    Attributes:
        path: dotted key path, e.g. "train.learning_rate".
        type: the type as documented ("positive int", "number > 0", "one of: ...").
        default: the value used when the key is absent.
        doc: what it means.
        check: function(value) -> normalised value, raising `_Invalid` with the reason.
    """

    path: str
    type: str
    default: object
    doc: str
    check: object


def _key(path, type_, default, doc, check):
    return RecipeKey(path, type_, default, doc, check)


def _one_of(choices):
    return "one of: " + ", ".join(str(c) for c in choices)


RECIPE_KEYS = (
    _key("model.name", "string (required)", None, "registered model, see `kerasseg models`",
         _required(_model_name)),
    _key("model.num_classes", "int >= 2 or null", None,
         "number of classes; null takes the dataset's (a binary task has 2: background and foreground)",
         _nullable(_num_classes)),
    _key("model.options", "mapping", {}, "builder arguments (e.g. backbone, output_stride); checked against "
         "the builder's signature", _mapping),
    _key("model.initial_weights", "string or null", None,
         "a trained .keras file whose layers start the model's layers of the same name (e.g. the full ENet from "
         "its encoder stage); relative to the working folder", _nullable(_string)),
    _key("data.dataset", _one_of(DATASET_KINDS), "shapes", "dataset kind", _choice(DATASET_KINDS)),
    _key("data.root", "string or null", None, "dataset folder (named datasets); `${ENV_VAR}` is expanded",
         _nullable(_string)),
    _key("data.image_size", "[height, width]", [96, 96], "generated image size (shapes)", _size),
    _key("data.class_names", "list of strings or null", None, "class names (folder, tfrecord)",
         _nullable(_string_list)),
    _key("data.void_class", "int >= 0 or null", None, "label value mapped to ignore (folder)", _nullable(_count)),
    _key("data.train", "mapping", {}, "reader options of the training split (checked against the reader)",
         _mapping),
    _key("data.val", "mapping", {}, "reader options of the validation split (checked against the reader)",
         _mapping),
    _key("data.crop_size", "[height, width] or null", None, "training crop; null = data.image_size",
         _nullable(_size)),
    _key("data.scale_range", "[low, high]", [0.5, 2.0], "random scale range, 0 < low <= high", _scale_range),
    _key("data.flip", "boolean", True, "random horizontal flips", _boolean),
    _key("data.rotation_degrees", "number in [0, 180]", 0.0, "random rotation range in degrees",
         _number(0, 180)),
    _key("data.photometric", "boolean or mapping", False,
         "photometric jitter: true for the defaults, or {brightness, contrast, saturation, hue}", _photometric),
    _key("data.image_pad_value", "number", 0.0, "image value of padded pixels (labels pad with ignore)",
         _number()),
    _key("data.on_error", _one_of(ON_ERROR), "raise", "bad samples: stop, or skip and report them",
         _choice(ON_ERROR)),
    _key("data.batch_size", "positive int", 8, "global training batch (split across replicas/workers)",
         _positive_int),
    _key("data.val_batch_size", "positive int or null", None, "validation batch; null = data.batch_size",
         _nullable(_positive_int)),
    _key("train.epochs", "positive int", 10, "number of epochs", _positive_int),
    _key("train.steps_per_epoch", "positive int or null", None,
         "optimizer steps per epoch; null = training samples // batch_size", _nullable(_positive_int)),
    _key("train.optimizer", _one_of(OPTIMIZERS), "adam", "Adam (AdamW with decoupled weight decay) or SGD",
         _choice(OPTIMIZERS)),
    _key("train.momentum", "number in [0, 1)", 0.9, "SGD momentum", _number(0, 1, high_open=True)),
    _key("train.learning_rate", "number > 0", 5.0e-4, "peak learning rate", _number(0, low_open=True)),
    _key("train.weight_decay", "number >= 0", 2.0e-4, "weight decay; BN, PReLU and biases are not decayed",
         _number(0)),
    _key("train.weight_decay_mode", _one_of(WEIGHT_DECAY_MODES), "decoupled",
         "decoupled (AdamW-style) or l2 (wd * w added to the gradient, as Torch/PyTorch references do)",
         _choice(WEIGHT_DECAY_MODES)),
    _key("train.lr_schedule", _one_of(LR_SCHEDULES), "poly", "learning-rate schedule after warm-up",
         _choice(LR_SCHEDULES)),
    _key("train.poly_power", "number > 0", 0.9, "poly: lr * (1 - step / steps) ** power",
         _number(0, low_open=True)),
    _key("train.lr_step_epochs", "positive int or null", None, "step: decay every this many epochs",
         _nullable(_positive_int)),
    _key("train.lr_step_factor", "number in (0, 1]", 0.1, "step: multiply the rate by this at each decay",
         _number(0, 1, low_open=True)),
    _key("train.fused_optimizer", "boolean", True,
         "Adam with one fused kernel per variable (same updates as Keras'); false: Keras' per-variable update",
         _boolean),
    _key("train.warmup_steps", "int >= 0", 0, "linear warm-up from 0 over this many steps", _count),
    _key("train.loss", "loss name or {name: weight}", "cross_entropy",
         f"{_one_of(LOSSES)}; a mapping sums the losses with its weights", _loss),
    _key("train.focal_gamma", "number >= 0", 2.0, "focal loss focusing parameter gamma", _number(0)),
    _key("train.ohem_threshold", "number in (0, 1]", 0.7,
         "ohem: pixels whose true-class probability is below this are hard", _number(0, 1, low_open=True)),
    _key("train.ohem_min_kept", "positive int", 100000, "ohem: keep at least this many hardest pixels a batch",
         _positive_int),
    _key("train.class_weighting", _one_of(CLASS_WEIGHTINGS), "none",
         "class weights from the training split's pixel statistics", _choice(CLASS_WEIGHTINGS)),
    _key("train.aux_loss_weight", "number >= 0", 0.4, "weight of auxiliary-head losses", _number(0)),
    _key("train.seed", "int >= 0", 0, "seed of weights, augmentation and shuffling", _count),
    _key("train.checkpoint_every_steps", "positive int", 100,
         "steps between resumable backups (also at each epoch end)", _positive_int),
    _key("train.distribution", _one_of(DISTRIBUTIONS), "auto",
         "auto (mirrored when several GPUs), default (one device), mirrored, multi_worker (TF_CONFIG)",
         _choice(DISTRIBUTIONS)),
    _key("train.sync_batch_norm", "boolean", False, "synchronise BatchNormalization statistics across replicas",
         _boolean),
    _key("train.mixed_precision", "false, true, mixed_float16 or mixed_bfloat16", False,
         "mixed precision; true = mixed_float16 on GPU, mixed_bfloat16 on CPU; logits stay float32",
         _mixed_precision),
    _key("train.jit_compile", "boolean", False, "XLA-compile the train step", _boolean),
    _key("train.intra_op_threads", "positive int or null", None,
         "threads inside one kernel; null = the usable cores (1 suits tiny steps on few cores: README)",
         _nullable(_positive_int)),
    _key("train.inter_op_threads", "positive int or null", None, "kernels run at once; null = the usable cores",
         _nullable(_positive_int)),
    _key("train.overlay_samples", "int >= 0", 4, "validation overlays drawn at the end", _count),
    _key("export.formats", "list of " + _one_of(EXPORT_FORMATS), list(EXPORT_FORMATS), "formats to export",
         _formats),
    _key("export.input_size", "[height, width] or null", None, "fixed export size; null = data.crop_size",
         _nullable(_size)),
    _key("export.calibration_samples", "positive int", 64, "int8 calibration images", _positive_int),
    _key("export.parity_samples", "positive int", 16, "validation images compared across formats",
         _positive_int),
    _key("export.int8_io", _one_of(INT8_IO), "uint8",
         "int8 model I/O: uint8 (uint8 input, float32 output) or int8 (int8 in and out)", _choice(INT8_IO)),
    _key("output_dir", "string or null", None, "run folder; null = runs/<model.name>", _nullable(_string)),
)
KEYS = {key.path: key for key in RECIPE_KEYS}
SECTIONS = ("model", "data", "train", "export")


def _defaults():
    config = {section: {} for section in SECTIONS}
    for key in RECIPE_KEYS:
        section, _, name = key.path.rpartition(".")
        (config[section] if section else config)[name] = copy.deepcopy(key.default)
    return config


DEFAULTS = _defaults()


# ---------------------------------------------------------------------------------------------- YAML loading
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that reads `5e-3` as a float (YAML 1.2) and refuses duplicate keys."""


_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
_StrictLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    _StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, [_first])


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text, source="<string>"):
    """Parses recipe YAML strictly (numbers like `5e-3` are floats, duplicate keys are errors).

    Args:
        text: YAML text.
        source: name for error messages.

    Returns:
        The parsed object.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(err).split())}") from None


# ---------------------------------------------------------------------------------------------- validation
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value, path):
    def replace(match):
        name = match.group(1)
        if name not in os.environ:
            raise _Invalid(f"names the environment variable {name}, which is not set: export {name}=... or "
                           f"pass --set {path}=...")
        return os.environ[name]
    return _ENV.sub(replace, value)


def _reader_options(config):
    """{split key: (function, excluded parameter names)} for the recipe's dataset reader."""
    from kerasseg import data as kdata

    dataset = config["data"]["dataset"]
    trainer_set = {"on_error", "skipped", "with_file_names", "num_classes"}
    if dataset == "shapes":
        return kdata.shapes_dataset, {"image_size"}
    if dataset == "folder":
        return kdata.folder_dataset, trainer_set
    if dataset == "tfrecord":
        return kdata.tfrecord_dataset, trainer_set
    return kdata.dataset_info(dataset).reader, trainer_set | {"root"}


def _check_options(options, function, excluded, where):
    parameters = inspect.signature(function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    valid = sorted(name for name in parameters if name not in excluded)
    for name in options:
        if name not in valid:
            raise UnknownNameError("option", name, valid, where)


def validate_config(config, source="config"):
    """Fills defaults into a recipe dict and checks every key and value.

    Args:
        config: the recipe as a dict (e.g. parsed YAML).
        source: where it came from, for error messages.

    Returns:
        A new dict with every key of `RECIPE_KEYS` present and normalised.

    Raises:
        ConfigError: "<source>: '<key path>' <reason>" for the first problem.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: a recipe is a mapping with model/data/train/export sections.")
    merged = _defaults()
    for top, value in config.items():
        if top in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{top}' must be a mapping, got {value!r}.")
            for name, item in value.items():
                if f"{top}.{name}" not in KEYS:
                    valid = [k.path.split(".", 1)[1] for k in RECIPE_KEYS if k.path.startswith(top + ".")]
                    raise ConfigError(f"{source}: unknown key '{top}.{name}'; valid: {', '.join(valid)}.")
                merged[top][name] = item
        elif top in KEYS:
            merged[top] = value
        else:
            raise ConfigError(f"{source}: unknown key '{top}'; valid: {', '.join(SECTIONS + ('output_dir',))}.")
    for key in RECIPE_KEYS:
        section, _, name = key.path.rpartition(".")
        holder = merged[section] if section else merged
        try:
            value = holder[name]
            if isinstance(value, str):
                value = _expand_env(value, key.path)
            holder[name] = key.check(value)
        except _Invalid as err:
            raise ConfigError(f"{source}: '{key.path}' {err}.") from None
    data, train = merged["data"], merged["train"]
    if data["dataset"] in NAMED_DATASETS and not data["root"]:
        raise ConfigError(f"{source}: 'data.root' (the dataset's folder) is required for dataset "
                          f"{data['dataset']!r}; set it in the recipe or pass --set data.root=DIR.")
    if train["lr_schedule"] == "step" and not train["lr_step_epochs"]:
        raise ConfigError(f"{source}: 'train.lr_step_epochs' is required with train.lr_schedule: step.")
    data["crop_size"] = data["crop_size"] or data["image_size"]
    merged["export"]["input_size"] = merged["export"]["input_size"] or data["crop_size"]
    try:
        from kerasseg.registry import get_model_spec

        spec = get_model_spec(merged["model"]["name"])
        _check_options(merged["model"]["options"], spec.builder, {"num_classes", "input_shape"},
                       f"in model.options for model '{spec.name}'")
        function, excluded = _reader_options(merged)
        for split in ("train", "val"):
            _check_options(data[split], function, excluded,
                           f"in data.{split} for dataset '{data['dataset']}'")
    except UnknownNameError as err:
        raise ConfigError(f"{source}: {err}.") from None
    if not merged["output_dir"]:
        merged["output_dir"] = str(pathlib.Path("runs") / merged["model"]["name"])
    return merged


def _parse_override(text):
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set train.epochs=3.")
    path, value = text.split("=", 1)
    path = path.strip()
    if path not in KEYS and not any(path.startswith(p + ".") for p in
                                    ("model.options", "data.train", "data.val", "data.photometric")):
        raise ConfigError(f"--set: {UnknownNameError('key', path, sorted(KEYS))}.")
    return path, parse_yaml(value, f"--set {path}") if value.strip() else None


def apply_overrides(raw, overrides):
    """Applies `--set key.path=value` overrides (values parsed as YAML) to a raw recipe dict.

    Args:
        raw: the recipe as parsed, before validation.
        overrides: strings "key.path=value", e.g. "data.root=/data/camvid", "train.learning_rate=1e-3".

    Returns:
        A new dict with the overrides applied (validate it with `validate_config`).
    """
    raw = copy.deepcopy(raw or {})
    for text in overrides or ():
        path, value = _parse_override(text)
        holder = raw
        *parents, last = path.split(".")
        for part in parents:
            holder = holder.setdefault(part, {})
            if not isinstance(holder, dict):
                raise ConfigError(f"--set {path}: '{part}' is not a mapping in the recipe.")
        holder[last] = value
    return raw


def load_config(path, overrides=()):
    """Reads and validates a YAML recipe.

    Args:
        path: path of the YAML file.
        overrides: optional "key.path=value" strings applied before validation (`kerasseg train --set`).

    Returns:
        The validated recipe dict (see `validate_config`).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    raw = parse_yaml(path.read_text(), str(path))
    return validate_config(apply_overrides(raw or {}, overrides), source=str(path))


def save_config(config, path):
    """Writes a recipe as YAML (the trainer stores one beside its checkpoints for `kerasseg export`)."""
    pathlib.Path(path).write_text(yaml.safe_dump(config, sort_keys=False))


def recipe_reference():
    """The Markdown table of every recipe key, its type, default and meaning (`docs/recipe.md`).

    Returns:
        The Markdown text; a test checks that `docs/recipe.md` equals it.
    """
    lines = ["# Recipe keys", "", "Generated from `kerasseg.training.config.RECIPE_KEYS` by "
             "`python -m kerasseg.training.config > docs/recipe.md`; a test checks that it is current.", "",
             "Numbers may be written `5e-3`; a key given twice is an error; `${NAME}` in a string is the "
             "environment variable NAME; `kerasseg train --set key.path=value` overrides any key and "
             "`--dry-run` prints the resolved recipe.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for key in RECIPE_KEYS:
        default = yaml.safe_dump(key.default, default_flow_style=True).strip().removesuffix("...").strip()
        lines.append(f"| `{key.path}` | {key.type} | `{default}` | {key.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(recipe_reference(), end="")
