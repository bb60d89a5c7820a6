"""SavedModel export in the TF Serving layout (`<out_dir>/savedmodel/<name>/<version>/`).

Signatures (the TF Model Garden convention for the three image ones), every one returning

* `logits`: float32 [batch, height, width, num_classes],
* `probabilities`: float32 softmax of the logits,
* `classes`: int32 [batch, height, width], the argmax class,

at the height and width of the image that was sent:

* `serving_default`: input `image`, float32 [batch, height, width, 3], RGB in [0, 255];
* `image_tensor`: input `image_tensor`, uint8 [batch, height, width, 3] (decoded pixels);
* `image_bytes`: input `image_bytes`, string [batch]: encoded JPEG / PNG / BMP / GIF files, decoded in the
  graph with 3 channels (grayscale is repeated, the alpha of RGBA dropped). TF Serving's REST API takes them as
  `{"b64": "..."}`;
* `tf_example`: input `tf_example`, string [batch]: serialized `tf.train.Example`s with the encoded image in
  the `image/encoded` bytes feature (the TFRecord layout of `kerasseg.data`).

The images of one request must share one size (one tensor); send images of different sizes in separate
requests. Architectures whose height and width must be multiples of a divisor (`ModelSpec.size_divisor`, 8 for
ENet) are served at any size: the graph pads the image with zeros at the bottom and right up to the next
multiple, runs the model and crops the outputs back. With `max_size`, an image whose long side exceeds it is
first resized (bilinear) so that its long side is `max_size`, and the logits are resized back to the image
size before the softmax and argmax: a 4000x3000 photo then runs at e.g. 1024x768. The saved graph holds only
TensorFlow ops, so TF Serving (or `tf.saved_model.load`) needs neither Keras nor kerasseg.
"""
import contextlib
import os

import tensorflow as tf

from kerasseg.registry import size_divisor

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "probabilities", "classes")
#: signature name -> its one input's name (the same) and dtype, beside `serving_default`.
IMAGE_SIGNATURES = {"image_bytes": "string", "image_tensor": "uint8", "tf_example": "string"}
SIGNATURES = (SIGNATURE_KEY,) + tuple(IMAGE_SIGNATURES)
#: The `tf.train.Example` feature holding the encoded image (as `kerasseg.data.tfrecord` writes it).
EXAMPLE_IMAGE_KEY = "image/encoded"

_shared = None  # {real path: loaded SavedModel} inside `shared_loads()`


def _static_hw(model):
    """The (height, width) the model's input layer fixes (None for a dynamic dimension)."""
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"model {model.name!r}: expected an input [B, H, W, 3], got {shape}.")
    return shape[1], shape[2]


class _ServingModule(tf.Module):
    """Holds the Keras model's variables and builds the serving function of every signature."""

    def __init__(self, model, divisor, max_size=None):
        super().__init__(name=f"{model.name}_serving")
        # The model is kept out of the object graph: `tf.saved_model.save` would otherwise serialise every
        # Keras layer (slow, and not needed to serve). The saved object tracks the model's tf.Variables
        # directly, which is all the serving graph reads.
        self._call_model = lambda x: model(x, training=False)
        self.model_variables = [getattr(v, "value", v) for v in model.variables]
        self.divisor = int(divisor)
        self.max_size = None if max_size is None else int(max_size)
        self.input_hw = height, width = _static_hw(model)
        self.fixed_size = (height, width) if height is not None and width is not None else None

    def signatures(self):
        """{signature name: concrete function} for `tf.saved_model.save`.

        The functions are locals, not attributes: `tf.saved_model.save` re-traces every `tf.function` it finds
        on the module (a second trace of the whole model, ~1/3 of the export time); the signatures are all
        that TF Serving reads. Every signature calls the one `outputs` function: the model is traced once.
        """
        height, width = self.input_hw
        outputs = tf.function(self._outputs, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        serve = tf.function(outputs, input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32,
                                                                    name=INPUT_NAME)])
        serve_image_tensor = tf.function(
            lambda image_tensor: outputs(tf.cast(image_tensor, tf.float32)),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="image_tensor")])
        serve_image_bytes = tf.function(
            lambda image_bytes: outputs(self._decode(image_bytes)),
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        serve_tf_example = tf.function(
            lambda tf_example: outputs(self._decode(tf.io.parse_example(
                tf_example, {EXAMPLE_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})[EXAMPLE_IMAGE_KEY])),
            input_signature=[tf.TensorSpec([None], tf.string, name="tf_example")])
        return {
            SIGNATURE_KEY: serve.get_concrete_function(),
            "image_tensor": serve_image_tensor.get_concrete_function(),
            "image_bytes": serve_image_bytes.get_concrete_function(),
            "tf_example": serve_tf_example.get_concrete_function(),
        }

    @staticmethod
    def _decode(encoded):
        """Decodes a batch of encoded images (one size) to float32 [B, H, W, 3]."""
        def decode(data):
            image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
            return tf.cast(image, tf.float32)

        return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32))

    def _logits(self, image):
        """Pads [B, H, W, 3] to the model's multiple, runs it and crops the logits back to [B, H, W, C].

        A model built for one fixed size gets the image resized to it, and its logits resized back.
        """
        shape = tf.shape(image)
        height, width = shape[1], shape[2]
        if self.fixed_size is not None:
            image = tf.image.resize(image, self.fixed_size, method="bilinear")
            logits = tf.cast(self._call_model(image), tf.float32)
            return tf.image.resize(logits, shape[1:3], method="bilinear")
        d = self.divisor
        if d > 1:
            image = tf.pad(image, [[0, 0], [0, (d - height % d) % d], [0, (d - width % d) % d], [0, 0]])
        logits = tf.cast(self._call_model(image), tf.float32)
        return logits[:, :height, :width, :] if d > 1 else logits

    def _outputs(self, image):
        if self.max_size is None:
            logits = self._logits(image)
        else:
            shape = tf.shape(image)
            size = shape[1:3]
            scale = tf.minimum(1.0, self.max_size / tf.cast(tf.reduce_max(size), tf.float32))
            small = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32))
            logits = tf.cond(
                scale < 1.0,
                lambda: tf.image.resize(self._logits(tf.image.resize(image, small, method="bilinear")), size,
                                        method="bilinear"),
                lambda: self._logits(image))
        return {
            "logits": tf.identity(logits, name="logits"),
            "probabilities": tf.nn.softmax(logits, axis=-1, name="probabilities"),
            "classes": tf.cast(tf.argmax(logits, axis=-1), tf.int32, name="classes"),
        }


def savedmodel_dir(out_dir, name, version=1):
    """Returns `out_dir/savedmodel/<name>/<version>` (the TF Serving model base path layout)."""
    return os.path.join(os.fspath(out_dir), "savedmodel", str(name), str(int(version)))


def export_savedmodel(model, out_dir, name=None, version=1, max_size=None):
    """Writes the model as a TF Serving SavedModel with the signatures listed in the module docstring.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        out_dir: export root; the SavedModel goes to `out_dir/savedmodel/<name>/<version>/`.
        name: served model name; defaults to `model.name`.
        version: positive integer version directory (TF Serving loads the highest one).
        max_size: optional long-side limit: larger images are resized down to it inside the graph and the
            outputs resized back to the sent size. None runs every image at its own size.

    Returns:
        The path of the version directory (a str).

    Raises:
        ValueError: `version` is not a positive integer, `max_size` is not a positive integer, or the version
            directory already holds a SavedModel.
    """
    if int(version) != version or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}.")
    if max_size is not None and (int(max_size) != max_size or max_size < 1):
        raise ValueError(f"max_size must be a positive integer (pixels of the long side) or None, got {max_size!r}.")
    name = name or model.name
    path = savedmodel_dir(out_dir, name, version)
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path} already holds a SavedModel; pick another version or out_dir.")
    module = _ServingModule(model, size_divisor(model), max_size)
    os.makedirs(path, exist_ok=True)
    tf.saved_model.save(module, path, signatures=module.signatures())
    return path


@contextlib.contextmanager
def shared_loads():
    """Inside it, `load_savedmodel` loads each SavedModel directory once and hands out the same object.

    `export_model` wraps its parity and client checks in it: both call the SavedModel, and each load (and each
    signature's first call, which TensorFlow optimises) costs seconds. The objects are released on exit.
    """
    global _shared
    outer = _shared
    _shared = {} if outer is None else outer
    try:
        yield
    finally:
        _shared = outer


def load_savedmodel(path):
    """`tf.saved_model.load(path)`, shared inside `shared_loads()`.

    Raises:
        FileNotFoundError: `path` holds no saved_model.pb.
    """
    path = os.fspath(path)
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"No saved_model.pb in {path}.")
    if _shared is None:
        return tf.saved_model.load(path)
    key = os.path.realpath(path)
    if key not in _shared:
        _shared[key] = tf.saved_model.load(path)
    return _shared[key]


def load_serving_fn(path, signature=SIGNATURE_KEY):
    """Loads an exported SavedModel and returns one of its signatures.

    Args:
        path: the version directory returned by `export_savedmodel`.
        signature: one of `SIGNATURES`.

    Returns:
        A callable `fn(<input>=tensor) -> {"logits", "probabilities", "classes"}` (input `image` for
        `serving_default`, else the signature's name); the loaded object is kept alive as `fn._loaded`.
    """
    loaded = load_savedmodel(path)
    if signature not in loaded.signatures:
        raise ValueError(f"{path} has no signature {signature!r}; it has {sorted(loaded.signatures)}.")
    fn = loaded.signatures[signature]
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
