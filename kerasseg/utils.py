"""Model statistics: parameter counts and multiply-adds at a given input size."""
import keras
import numpy as np


def count_params(model):
    """Returns {"trainable", "non_trainable", "total"} parameter counts of a built model.

    Non-trainable parameters are batch-norm moving statistics and frozen layers (e.g. FCN's fixed bilinear
    up-sampling kernels).
    """
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}


def _layer_macs(layer, in_shape, out_shape):
    """Multiply-adds of one call of `layer` (batch 1) given its static input and output shapes."""
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        cin = in_shape[-1]
        spatial = out_shape[1] * out_shape[2]
        return spatial * kh * kw * cin * layer.depth_multiplier + spatial * cin * layer.depth_multiplier * layer.filters
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return out_shape[1] * out_shape[2] * kh * kw * in_shape[-1] * layer.depth_multiplier
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        return in_shape[1] * in_shape[2] * kh * kw * in_shape[-1] * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return out_shape[1] * out_shape[2] * kh * kw * (in_shape[-1] // layer.groups) * layer.filters
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(in_shape[1:-1], dtype=np.int64)) * in_shape[-1] * layer.units
    return 0


def _static_copy(model, input_size):
    height, width = input_size
    inputs = [keras.Input(batch_shape=(1, height, width, tensor.shape[-1]), name=tensor.name.split(":")[0])
              for tensor in model.inputs]
    return keras.models.clone_model(model, input_tensors=inputs[0] if len(inputs) == 1 else inputs)


def count_macs(model, input_size):
    """Multiply-adds (MACs) of one forward pass of `model` on a batch of one image of `input_size`.

    Counts convolutions (including depthwise, separable and transposed) and dense layers, the operations that
    dominate segmentation networks; batch norm (folded at export), activations, pooling, additions and resizes
    are not counted. One MAC = one multiply and one add (FLOPs ~ 2 x MACs).

    Args:
        model: a functional `keras.Model` (any input size it accepts).
        input_size: (height, width) at which to count.

    Returns:
        The number of multiply-adds (int).
    """
    if len(tuple(input_size)) != 2 or any(int(s) != s or s < 1 for s in input_size):
        raise ValueError(f"input_size must be (height, width) positive integers, got {input_size!r}.")
    static = _static_copy(model, tuple(int(s) for s in input_size))
    return _functional_macs(static)


def _functional_macs(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += _functional_macs(layer)
            continue
        for node in layer._inbound_nodes:
            ins = [t.shape for t in node.input_tensors]
            outs = [t.shape for t in node.output_tensors]
            if not ins or not outs:
                continue
            total += _layer_macs(layer, ins[0], outs[0])
    return int(total)


def transfer_weights(model, source):
    """Copies the weights of every layer of `source` into the layer of the same name in `model`.

    Used to start a network from a related trained one, e.g. the full ENet from its trained encoder stage
    (`enet_encoder`), whose layers carry the same names. Layers whose weight shapes differ are reported, not
    copied.

    Args:
        model: the `keras.Model` to initialise.
        source: a `keras.Model`, or the path of a `.keras` file.

    Returns:
        The names of the layers whose weights were copied.

    Raises:
        ValueError: when no layer matches by name and shapes, or a layer of the same name has other shapes.
    """
    if not isinstance(source, keras.Model):
        source = keras.saving.load_model(str(source), compile=False)
    source_layers = {layer.name: layer for layer in source._flatten_layers(include_self=False, recursive=True)}
    copied, mismatched = [], []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        other = source_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        weights = other.get_weights()
        if [w.shape for w in weights] != [tuple(v.shape) for v in layer.weights]:
            mismatched.append(layer.name)
            continue
        layer.set_weights(weights)
        copied.append(layer.name)
    if mismatched:
        raise ValueError(f"layers {mismatched} of {model.name!r} have other weight shapes in {source.name!r}.")
    if not copied:
        raise ValueError(f"no layer of {model.name!r} has a namesake with weights in {source.name!r}.")
    return copied
