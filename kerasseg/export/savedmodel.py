"""SavedModel export in the TF Serving layout (`<out_dir>/savedmodel/<name>/<version>/`).

The `serving_default` signature takes ONE float32 input named `image` ([batch, height, width, 3], RGB in
[0, 255]; batch, height and width are dynamic) and returns three named outputs:

* `logits`: float32 [batch, height, width, num_classes],
* `probabilities`: float32 softmax of the logits,
* `classes`: int32 [batch, height, width], the argmax class.

Architectures whose height and width must be multiples of a divisor (`ModelSpec.size_divisor`, 8 for ENet)
are served at any size: the signature pads the image with zeros at the bottom and right up to the next
multiple, runs the model and crops the outputs back to the input size. The saved graph holds only TensorFlow
ops, so TF Serving (or `tf.saved_model.load`) needs neither Keras nor kerasseg.
"""
import os

import tensorflow as tf

from kerasseg.registry import size_divisor

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "probabilities", "classes")




def _static_hw(model):
    """The (height, width) the model's input layer fixes (None for a dynamic dimension)."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"model {model.name!r}: expected an input [B, H, W, 3], got {shape}.")
    return shape[1], shape[2]


class _ServingModule(tf.Module):
    """Holds the Keras model and its variables, and exposes the padded serving function."""

    def __init__(self, model, divisor):
        super().__init__(name=f"{model.name}_serving")
        # The model is kept out of the object graph: `tf.saved_model.save` would otherwise serialise every
        # Keras layer (slow, and not needed to serve). The saved object tracks the model's tf.Variables
        # directly, which is all the serving graph reads.
        self._call_model = lambda x: model(x, training=False)
        self.model_variables = [getattr(v, "value", v) for v in model.variables]
        self.divisor = int(divisor)
        height, width = _static_hw(model)
        spec = tf.TensorSpec([None, height, width, 3], tf.float32, name=INPUT_NAME)
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, image):
        shape = tf.shape(image)
        height, width = shape[1], shape[2]
        d = self.divisor
        if d > 1:
            pad_h = (d - height % d) % d
            pad_w = (d - width % d) % d
            image = tf.pad(image, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        logits = tf.cast(self._call_model(image), tf.float32)
        if d > 1:
            logits = logits[:, :height, :width, :]
        return {
            "logits": tf.identity(logits, name="logits"),
            "probabilities": tf.nn.softmax(logits, axis=-1, name="probabilities"),
            "classes": tf.cast(tf.argmax(logits, axis=-1), tf.int32, name="classes"),
        }


def savedmodel_dir(out_dir, name, version=1):
    """Returns `out_dir/savedmodel/<name>/<version>` (the TF Serving model base path layout)."""
    return os.path.join(os.fspath(out_dir), "savedmodel", str(name), str(int(version)))


def export_savedmodel(model, out_dir, name=None, version=1):
    """Writes the model as a TF Serving SavedModel with a `serving_default` signature.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        out_dir: export root; the SavedModel goes to `out_dir/savedmodel/<name>/<version>/`.
        name: served model name; defaults to `model.name`.
        version: positive integer version directory (TF Serving loads the highest one).

    Returns:
        The path of the version directory (a str).

    Raises:
        ValueError: `version` is not a positive integer, or the version directory already holds a SavedModel.
    """
    if int(version) != version or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}.")
    name = name or model.name
    path = savedmodel_dir(out_dir, name, version)
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path} already holds a SavedModel; pick another version or out_dir.")
    module = _ServingModule(model, size_divisor(model))
    signature = module.serve.get_concrete_function()
    os.makedirs(path, exist_ok=True)
    tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: signature})
    return path


def load_serving_fn(path):
    """Loads an exported SavedModel and returns its `serving_default` concrete function.

    Args:
        path: the version directory returned by `export_savedmodel`.

    Returns:
        A callable `fn(image=tensor) -> {"logits", "probabilities", "classes"}`; the loaded object is kept
        alive as `fn._loaded`.
    """
    if not os.path.exists(os.path.join(os.fspath(path), "saved_model.pb")):
        raise FileNotFoundError(f"No saved_model.pb in {path}.")
    loaded = tf.saved_model.load(os.fspath(path))
    fn = loaded.signatures[SIGNATURE_KEY]
    fn._loaded = loaded
    return fn


def run_savedmodel(path, images):
    """Runs an exported SavedModel on a batch and returns its logits.

    Args:
        path: the version directory returned by `export_savedmodel`.
        images: float32 array [B, H, W, 3] (or one image [H, W, 3]) in [0, 255].

    Returns:
        numpy float32 logits [B, H, W, C].
    """
    import numpy as np

    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    fn = load_serving_fn(path)
    return fn(image=tf.constant(images))["logits"].numpy()
