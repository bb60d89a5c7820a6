"""Model registry: one list of architectures that the CLI, configs, export and tests enumerate."""
import dataclasses
from typing import Callable

from kerasseg.errors import check_name

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
    """Returns the `ModelSpec` registered under `name`.

    Raises:
        kerasseg.errors.UnknownNameError: (a ValueError and KeyError) "unknown model 'x'; valid: ...".
    """
    check_name("model", name, list_models())
    return _MODELS[name]


def build_model(name, num_classes, input_shape=(None, None, 3), **kwargs):
    """Builds a registered model.

    Args:
        name: registry name, one of `list_models()`.
        num_classes: number of output classes (logit channels).
        input_shape: (height, width, 3); None for a dimension known only at run time.
        **kwargs: architecture-specific options passed to the builder.

    Returns:
        A `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
    """
    return get_model_spec(name).builder(num_classes=num_classes, input_shape=input_shape, **kwargs)


def size_divisor(model):
    """Returns the height/width divisor a built model needs (its registered `ModelSpec.size_divisor`).

    Args:
        model: a `keras.Model`; models whose name is not a registered architecture get 1.

    Returns:
        A positive int.
    """
    return _MODELS[model.name].size_divisor if model.name in _MODELS else 1
