"""Model registry: one list of architectures that the CLI, configs, export and tests enumerate."""
import dataclasses
import functools
import inspect
import pathlib
from typing import Callable, Optional

from kerasseg.errors import UnknownNameError
from kerasseg.segmentation_model import SegmentationModel

_MODELS = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the library knows about a registered architecture.

    Attributes:
        name: registry name (also the default `keras.Model.name`).
        builder: function `builder(num_classes, input_shape=..., **kwargs) -> keras.Model` (the registered,
            spec-attaching one).
        size_divisor: input height and width must be multiples of this (export pads to it for TF Serving).
        paper: reference of the paper the builder follows.
        backbone: the encoder of an architecture without a `backbone` argument ("vgg16" for FCN; None for
            ENet); builders with one record the backbone they were given.
    """

    name: str
    builder: Callable
    size_divisor: int
    paper: str
    backbone: Optional[str] = None


def register_model(name, size_divisor=1, paper="", backbone=None):
    """Decorator that registers a model builder under `name`.

    The decorated builder returns a `SegmentationModel` carrying the spec (architecture `name`, size divisor,
    paper, backbone, the builder's arguments): a builder may return a `SegmentationModel` or any functional
    `keras.Model` (then rebuilt as a `SegmentationModel` on the same layers).

    Args:
        name: registry name.
        size_divisor: input height and width must be multiples of it.
        paper: reference of the paper the builder follows.
        backbone: the fixed encoder of a builder without a `backbone` argument.

    Returns:
        The decorator; it returns the spec-attaching builder.
    """

    def decorator(builder):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        signature = inspect.signature(builder)

        @functools.wraps(builder)
        def build(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            for parameter in signature.parameters.values():
                if parameter.kind is parameter.VAR_KEYWORD:
                    arguments.update(arguments.pop(parameter.name, {}))
            model = builder(*args, **kwargs)
            spec = {"architecture": name, "size_divisor": size_divisor, "paper": paper,
                    "backbone": arguments.get("backbone", backbone), "builder_arguments": arguments}
            if isinstance(model, SegmentationModel):
                model._set_spec(spec)
                return model
            return SegmentationModel(model.input, model.output, name=model.name, spec=spec)

        _MODELS[name] = ModelSpec(name=name, builder=build, size_divisor=size_divisor, paper=paper,
                                  backbone=backbone)
        return build

    return decorator


def unregister_model(name):
    """Removes a registered model (for tests that register a toy architecture); unknown names are an error."""
    get_model_spec(name)
    del _MODELS[name]


def list_models():
    """Returns the sorted names of all registered models."""
    return sorted(_MODELS)


def get_model_spec(name):
    """Returns the `ModelSpec` registered under `name`.

    Raises:
        UnknownNameError: (a ValueError) "unknown model 'name'; valid: ..." for a name that is not registered.
    """
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("model", name, list_models()) from None


def build_model(name, /, num_classes=None, input_shape=(None, None, 3), weights=None, **kwargs):
    """Builds a registered model, optionally with pretrained weights.

    Args:
        name: registry name, one of `list_models()`; an unknown name fails before anything is built. Positional
            only, so `name=` among the keyword arguments names the built `keras.Model`.
        num_classes: number of output classes (logit channels); may be left out with shipped `weights`.
        input_shape: (height, width, 3); None for a dimension known only at run time.
        weights: None (random initialisation), the short name of weights shipped with kerasseg
            (`build_model("enet", weights="camvid")`; see `kerasseg.pretrained`), or the path of a
            `.weights.h5` file saved from the same architecture.
        **kwargs: architecture-specific options passed to the builder.

    Returns:
        A `SegmentationModel` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, num_classes].
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
    """Returns the height/width divisor a built model needs: the export code's one entry point.

    Args:
        model: a `keras.Model`. A `SegmentationModel` knows its divisor whatever its name; a plain model (a
            `.keras` file saved before models carried their spec) gets the registry entry of its name, and 1
            when its name is not a registered architecture.

    Returns:
        A positive int.
    """
    if isinstance(model, SegmentationModel):
        return model.size_divisor
    return _MODELS[model.name].size_divisor if model.name in _MODELS else 1
