"""kerasseg: semantic-segmentation networks in TensorFlow 2 / Keras 3.

Every model takes float32 RGB images with values in [0, 255] (shape [B, H, W, 3]) and returns logits
[B, H, W, num_classes] at input resolution; normalisation happens inside the model, so Keras, TF Serving and
LiteRT are all fed the same raw pixels.
"""
__version__ = "0.1.0"

import importlib
import os
import platform

from kerasseg import errors  # noqa: F401  (no TensorFlow needed)

# TensorFlow's x86 wheels carry oneDNN (MKL-DNN) kernels but turn them on only for CPUs with AVX-512 VNNI / AMX;
# elsewhere (AVX2 CPUs) training runs Eigen's convolution gradients, ~1.4-1.7x slower for ENet at 360x480 and
# DeepLabv3+ (README, "Training speed"). TensorFlow reads the switch once, at its import: set it before, unless
# the user chose (TF_ENABLE_ONEDNN_OPTS=0 keeps Eigen). `kerasseg.training.performance.onednn_enabled()` says
# which is in effect (TensorFlow imported before kerasseg keeps its own default).
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

try:
    import keras  # noqa: F401
except ModuleNotFoundError as error:
    # A device-side install (LiteRT + numpy + Pillow, no TensorFlow / Keras) can still use `kerasseg.litert`;
    # anything else fails at its own import with the missing module named.
    if error.name not in ("keras", "tensorflow"):
        raise
else:
    from kerasseg import layers, losses, metrics, models  # noqa: F401  (registers every serializable object)
    from kerasseg.training import optimizers as _optimizers  # noqa: F401  (checkpoints compiled with its Adam)
    from kerasseg.registry import build_model, get_model_spec, list_models
    from kerasseg.segmentation_model import SegmentationModel

__all__ = [
    "SegmentationModel",
    "__version__",
    "build_model",
    "data",
    "errors",
    "export",
    "get_model_spec",
    "layers",
    "list_models",
    "load_model",
    "losses",
    "metrics",
    "models",
]


def load_model(path, compile=True):
    """Load a `.keras` file saved by kerasseg (all custom objects are registered on import).

    Args:
        path: path of the `.keras` file.
        compile: whether to restore the optimizer, loss and metrics.

    Returns:
        The `keras.Model`.
    """
    import keras

    return keras.saving.load_model(path, compile=compile)


def __getattr__(name):
    # `data` and `export` pull in tf.data readers, tf2onnx and LiteRT: load them on first use.
    if name in ("data", "export", "inference", "litert", "training", "viz"):
        return importlib.import_module(f"kerasseg.{name}")
    raise AttributeError(f"module 'kerasseg' has no attribute {name!r}")
