"""Model registry: one list of architectures that the CLI, configs, export and tests enumerate."""
import dataclasses
import pathlib
from typing import Callable

_MODELS = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the library knows about a registered architecture.

    Attributes:
        name: registry name (also the default `keras.Model.name`).
        builder: function `builder(num_classes, input_shape=..., **kwargs) -> keras.Model`.
        size_divisor: input height and width must be multiples of this (export pads to it for TF Serving).
        paper: reference of the paper the builder follows.
    """

    name: str
    builder: Callable
    size_divisor: int
    paper: str


def register_model(name, size_divisor=1, paper=""):
    """Decorator that registers a model builder under `name`."""

    def decorator(builder):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = ModelSpec(name=name, builder=builder, size_divisor=size_divisor, paper=paper)
        return builder

    return decorator


def list_models():
    """Returns the sorted names of all registered models."""
    return sorted(_MODELS)


def get_model_spec(name):
    """Returns the `ModelSpec` registered under `name`; raises `KeyError` naming the known models."""
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"Unknown model {name!r}; registered models: {', '.join(list_models())}.") from None


def build_model(name, num_classes=None, input_shape=(None, None, 3), weights=None, **kwargs):
    """Builds a registered model, optionally with pretrained weights.

    Args:
        name: registry name, one of `list_models()`.
        num_classes: number of output classes (logit channels); may be left out with shipped `weights`.
        input_shape: (height, width, 3); None for a dimension known only at run time.
        weights: None (random initialisation), the short name of weights shipped with kerasseg
            (`build_model("enet", weights="camvid")`; see `kerasseg.pretrained`), or the path of a
            `.weights.h5` file saved from the same architecture.
        **kwargs: architecture-specific options passed to the builder.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    spec = get_model_spec(name)
    if weights is not None and not str(weights).endswith(".h5"):
        from kerasseg import pretrained

        entry = pretrained.find_pretrained(name, weights)
        if num_classes not in (None, entry.num_classes):
            raise ValueError(f"num_classes={num_classes} does not match the {entry.num_classes} classes of the "
                             f"{weights!r} weights of {name!r}.")
        if kwargs:
            raise ValueError(f"builder options {sorted(kwargs)} cannot change a pretrained {name!r}.")
        return pretrained.load_pretrained(entry.name, input_shape=input_shape)
    if num_classes is None:
        raise ValueError(f"build_model({name!r}): num_classes is required (or shipped weights=...).")
    model = spec.builder(num_classes=num_classes, input_shape=input_shape, **kwargs)
    if weights is not None:
        if not pathlib.Path(weights).is_file():
            raise FileNotFoundError(f"build_model({name!r}): weights file not found: {weights}")
        model.load_weights(str(weights))
    return model


def size_divisor(model):
    """Returns the height/width divisor a built model needs (its registered `ModelSpec.size_divisor`).

    Args:
        model: a `keras.Model`; models whose name is not a registered architecture get 1.

    Returns:
        A positive int.
    """
    return _MODELS[model.name].size_divisor if model.name in _MODELS else 1
