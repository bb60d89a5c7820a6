"""Shared machinery of the backbones: prefixed layer factory, output-stride schedule, weight loading."""
import os
import socket

import numpy as np

OUTPUT_STRIDES = (8, 16, 32)
LEVELS = (4, 8, 16, 32)
#: Seconds a download of ImageNet weights may wait on the network before failing (env KERASSEG_DOWNLOAD_TIMEOUT).
DEFAULT_DOWNLOAD_TIMEOUT = 30.0


class LayerFactory:
    """Creates the layers of one backbone with names `<prefix>_<name>` and remembers them by unprefixed name.

    Args:
        prefix: the backbone name, prepended to every layer name.
    """

    def __init__(self, prefix):
        self.prefix = prefix
        self.layers = {}

    def __call__(self, cls, name, *args, **kwargs):
        if name in self.layers:
            raise ValueError(f"Layer {name!r} created twice in backbone {self.prefix!r}.")
        layer = cls(*args, name=f"{self.prefix}_{name}", **kwargs)
        self.layers[name] = layer
        return layer


class StrideSchedule:
    """Turns striding into dilation once the running stride reaches `output_stride` (DeepLab's rule).

    A layer that would stride by `s` after the running stride has reached `output_stride` keeps stride 1 and
    uses the current dilation rate; every later layer uses `rate * s` (as TF-slim's `stack_blocks_dense` and
    torchvision's `replace_stride_with_dilation` do).

    Args:
        output_stride: 8, 16 or 32.
    """

    def __init__(self, output_stride):
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}.")
        self.output_stride = output_stride
        self.stride = 1
        self.rate = 1

    def step(self, stride):
        """Returns (stride to use, dilation rate of this layer) for a layer that nominally strides by `stride`."""
        if stride == 1:
            return 1, self.rate
        if self.stride >= self.output_stride:
            layer_rate = self.rate
            self.rate *= stride
            return 1, layer_rate
        self.stride *= stride
        return stride, self.rate


def check_inputs(name, inputs):
    shape = tuple(inputs.shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Backbone {name!r} needs inputs of shape [batch, height, width, 3] (RGB in [0, 255]), "
                         f"got {shape}.")


# --------------------------------------------------------------------------------------------------- weights


def _download_timeout():
    value = os.environ.get("KERASSEG_DOWNLOAD_TIMEOUT", DEFAULT_DOWNLOAD_TIMEOUT)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"KERASSEG_DOWNLOAD_TIMEOUT must be a number of seconds, got {value!r}.") from None


def keras_application_model(name, application, weights, include_top=False):
    """Builds `application(include_top=include_top, weights=weights)` with a network timeout and a clear error.

    Keras looks for the weights in its cache (`$KERAS_HOME/models`, default `~/.keras/models`) and downloads
    them otherwise; the download runs under a socket timeout, so an offline machine fails in seconds.
    """
    timeout = _download_timeout()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        # 224x224: the size every Keras ImageNet file exists for (only the weights are used, not this graph).
        return application(include_top=include_top, weights=weights, input_shape=(224, 224, 3))
    except Exception as err:  # Keras wraps URLError / timeouts in a bare Exception
        if weights != "imagenet":
            raise ValueError(f"Backbone {name!r}: could not load the Keras weights file {weights!r}: {err}") from err
        raise RuntimeError(
            f"Backbone {name!r}: could not get the Keras ImageNet weights (no cached copy under "
            f"{os.path.join(os.environ.get('KERAS_HOME', os.path.join('~', '.keras')), 'models')}"
            f" and the download failed within {timeout:g} s: {err}). Without internet, copy the Keras "
            f"applications weights file ('*_notop.h5' for a backbone) to that folder, or pass its path as weights=..., or use weights=None."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)


def copy_keras_application_weights(name, source, factory, unnamed_targets=()):
    """Copies the weights of a Keras applications model into the backbone's layers, layer for layer.

    Layers are matched by name (`<backbone>_<keras name>`); layers Keras leaves unnamed (Xception's residual
    1x1 convs and their batch norms) are matched in order with `unnamed_targets`.

    Raises:
        ValueError: a layer of either side is left without a partner, or two partners' weights differ in shape.
    """
    pending_unnamed = list(unnamed_targets)
    assigned = set()
    for layer in source.layers:
        values = layer.get_weights()
        if not values:
            continue
        target_name = layer.name if layer.name in factory.layers else None
        if target_name is None:
            if not pending_unnamed:
                raise ValueError(f"Backbone {name!r}: Keras layer {layer.name!r} has no counterpart.")
            target_name = pending_unnamed.pop(0)
        target = factory.layers[target_name]
        shapes = [tuple(w.shape) for w in target.weights]
        if shapes != [v.shape for v in values] or not isinstance(target, type(layer)):  # kerasseg BN: a subclass
            raise ValueError(f"Backbone {name!r}: Keras layer {layer.name!r} {[v.shape for v in values]} does not "
                             f"match {target.name!r} {shapes}.")
        target.set_weights(values)
        assigned.add(target_name)
    missing = [n for n, layer in factory.layers.items() if layer.weights and n not in assigned]
    if missing or pending_unnamed:
        raise ValueError(f"Backbone {name!r}: the Keras weights leave layers {missing + pending_unnamed} unset.")


def save_backbone_weights(model, name, path):
    """Writes the weights of the backbone `name` inside `model` to an `.npz` file that `weights=path` loads.

    Keys are `<layer name without the backbone prefix>/<index>` in `layer.get_weights()` order, so the file
    loads into the same backbone at any output stride and inside any model.

    Args:
        model: a built `keras.Model` containing the backbone's layers.
        name: the backbone name (its layer prefix).
        path: the `.npz` file to write.

    Returns:
        The number of layers written.
    """
    prefix = f"{name}_"
    arrays = {}
    for layer in model.layers:
        if layer.name.startswith(prefix):
            for i, value in enumerate(layer.get_weights()):
                arrays[f"{layer.name[len(prefix):]}/{i}"] = value
    if not arrays:
        raise ValueError(f"model {model.name!r} holds no layer of backbone {name!r} (prefix {prefix!r}).")
    np.savez(path, **arrays)
    return len({k.split("/")[0] for k in arrays})


def load_npz_weights(name, factory, path):
    """Loads a `save_backbone_weights` file into the backbone's layers; every weighted layer must be covered."""
    with np.load(path) as data:
        stored = {key: data[key] for key in data.files}
    used = set()
    for layer_name, layer in factory.layers.items():
        if not layer.weights:
            continue
        keys = [f"{layer_name}/{i}" for i in range(len(layer.weights))]
        missing = [k for k in keys if k not in stored]
        if missing:
            raise ValueError(f"Backbone {name!r}: weights file {path} has no values for layer {layer_name!r} "
                             f"(keys {missing}).")
        values = [stored[k] for k in keys]
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [v.shape for v in values]:
            raise ValueError(f"Backbone {name!r}: weights file {path} holds shapes {[v.shape for v in values]} for "
                             f"layer {layer_name!r}, expected {expected}.")
        layer.set_weights(values)
        used.update(keys)
    unused = sorted(set(stored) - used)
    if unused:
        raise ValueError(f"Backbone {name!r}: weights file {path} holds values for unknown layers, e.g. {unused[:5]}.")


def load_weights(name, factory, weights, application=None, unnamed_targets=()):
    """Applies `weights` (None, "imagenet", a Keras applications `.h5` file or a kerasseg `.npz` file)."""
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")
    weights = os.fspath(weights)
    if weights != "imagenet" and not os.path.isfile(weights):
        raise ValueError(f"Backbone {name!r}: weights file not found: {weights}")
    if weights.endswith(".npz"):
        load_npz_weights(name, factory, weights)
        return
    if application is None:
        raise ValueError(
            f"Backbone {name!r} is not in keras.applications, so there are no Keras ImageNet weights for it; "
            f"pass a .npz file written by kerasseg.backbones.save_backbone_weights (e.g. converted torchvision "
            f"weights), or weights=None. Got weights={weights!r}.")
    source = keras_application_model(name, application, weights)
    copy_keras_application_weights(name, source, factory, unnamed_targets)
