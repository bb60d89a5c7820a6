"""`SegmentationModel`: a functional `keras.Model` that carries what it is.

Every registered builder returns one (see `kerasseg.registry.register_model`). Besides the layers it holds a
spec that is saved inside the `.keras` file and comes back with `keras.saving.load_model`, whatever the model
is named:

- `architecture`: the registry name of the builder ("enet", "sfnet", ...);
- `size_divisor`: input height and width must be multiples of it (export pads to it for TF Serving and checks
  the TFLite size against it; calling the model on another size is a clear error);
- `paper`: the reference the builder follows;
- `backbone`: the encoder ("mobilenetv2", "vgg16", ...; None for ENet's own encoder);
- `builder_arguments`: every argument the builder was called with (defaults included), so
  `kerasseg.build_model(spec["architecture"], **spec["builder_arguments"])` builds the same network;
- `class_names`, `palette`: set by training (`set_classes`), so evaluation, prediction and export label and
  colour their output without the recipe.

`.keras` files saved before the spec existed load as plain functional models; `kerasseg.registry.size_divisor`
then falls back to the registry entry of the model's name.
"""
import copy

import keras
import numpy as np

#: The spec's keys, in the order they are saved.
SPEC_KEYS = ("architecture", "size_divisor", "paper", "backbone", "builder_arguments", "class_names", "palette")


def _plain(value):
    """`value` with tuples as lists and numpy scalars/arrays as Python values (what a JSON round trip gives)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


@keras.saving.register_keras_serializable(package="kerasseg")
class SegmentationModel(keras.Model):
    """A functional segmentation model with its spec (see the module docstring).

    Build it like `keras.Model(inputs, outputs, name=...)`; the registry attaches the spec. Calling it on an
    image whose height or width is not a multiple of `size_divisor` raises a `ValueError` naming the size
    (instead of a shape error deep inside the graph). Inside a `tf.function` with unknown height/width the
    check happens when the size is known (eagerly, or at a fixed-size trace).

    Args:
        *args, **kwargs: those of a functional `keras.Model` (inputs, outputs, name, ...).
        spec: dict with the keys of `SPEC_KEYS` (missing keys are None; `size_divisor` defaults to 1).
    """

    def __init__(self, *args, spec=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_spec(spec or {})

    def _set_spec(self, spec):
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise ValueError(f"spec has unknown keys {sorted(unknown)}; valid: {', '.join(SPEC_KEYS)}")
        spec = {key: _plain(spec.get(key)) for key in SPEC_KEYS}
        spec["size_divisor"] = int(spec["size_divisor"] or 1)
        if spec["size_divisor"] < 1:
            raise ValueError(f"spec size_divisor must be a positive integer, got {spec['size_divisor']!r}.")
        # object.__setattr__: a plain record, not something Keras should track as layers or variables.
        object.__setattr__(self, "_kerasseg_spec", spec)

    @property
    def spec(self):
        """A copy of the model's spec (a dict keyed by `SPEC_KEYS`)."""
        return copy.deepcopy(self._kerasseg_spec)

    @property
    def size_divisor(self):
        """Input height and width must be multiples of this."""
        return self._kerasseg_spec["size_divisor"]

    @property
    def class_names(self):
        """The class names (a list, one per logit channel) or None when training did not set them."""
        return copy.copy(self._kerasseg_spec["class_names"])

    @property
    def palette(self):
        """uint8 [num_classes, 3] colours, or None when training did not set them."""
        palette = self._kerasseg_spec["palette"]
        return None if palette is None else np.asarray(palette, np.uint8)

    def set_classes(self, class_names, palette=None):
        """Records what the logit channels mean, so they travel with the saved model.

        Args:
            class_names: one name per logit channel.
            palette: None, or one RGB colour (3 ints in [0, 255]) per class.

        Raises:
            ValueError: the number of names or colours is not the number of logit channels.
        """
        num_classes = self._num_classes()
        class_names = [str(n) for n in class_names]
        if len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names; model {self.name!r} has {num_classes} "
                             f"classes.")
        if palette is not None:
            palette = np.asarray(palette)
            if palette.shape != (num_classes, 3) or palette.min() < 0 or palette.max() > 255:
                raise ValueError(f"palette must be {num_classes} RGB colours in [0, 255] (shape ({num_classes}, 3)), "
                                 f"got shape {palette.shape}.")
            palette = palette.astype(np.uint8)
        self._set_spec({**self._kerasseg_spec, "class_names": class_names, "palette": palette})

    def _num_classes(self):
        output = self.output
        main = output["logits"] if isinstance(output, dict) else output
        return int(main.shape[-1])

    def check_input_size(self, height, width):
        """Raises a ValueError when a known `height` or `width` is not a multiple of `size_divisor`.

        Args:
            height, width: ints, or None where unknown (not checked).
        """
        divisor = self.size_divisor
        for dim, size in (("height", height), ("width", width)):
            if size is not None and (size < 1 or size % divisor):
                raise ValueError(f"model {self.name!r}: input {dim} {size} is not a multiple of {divisor}.")

    def call(self, inputs, training=None, mask=None, **kwargs):
        shape = keras.ops.shape(inputs)
        if len(shape) == 4:
            self.check_input_size(*(s if isinstance(s, int) else None for s in shape[1:3]))
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        return {**super().get_config(), "spec": self.spec}
