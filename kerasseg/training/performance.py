"""CPU training settings: TensorFlow's thread pools, oneDNN kernels, and the fused optimizer `kerasseg train` uses.

`configure()` is what `kerasseg train` calls before it builds anything; a notebook calls it first thing (thread
pools can only be set before TensorFlow runs its first op). oneDNN is chosen earlier still, by `import kerasseg`
before TensorFlow's import (`kerasseg/__init__.py`); `onednn_enabled()` reports it. `benchmarks/train_step.py`
measures each setting.
"""
import os

import tensorflow as tf

from kerasseg.training.optimizers import Adam


def cpu_cores():
    """Returns the number of CPU cores this process may run on (its affinity mask, else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def onednn_enabled():
    """Returns True when TensorFlow runs its oneDNN CPU kernels (convolutions, batch norm, pooling and their
    gradients), as `import kerasseg` asks on x86 unless TF_ENABLE_ONEDNN_OPTS=0 was set or TensorFlow was imported
    first (then TensorFlow's own default holds: on only for CPUs with AVX-512 VNNI / AMX)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def configure(intra_op_threads=None, inter_op_threads=None):
    """Sizes TensorFlow's thread pools for training on a CPU.

    A segmentation training step is a graph of many small kernels, several of which are independent (the
    branches of a bottleneck, the gradients of different layers, the optimizer updates): with the inter-op pool
    as large as the core count they run side by side instead of one after the other.

    Args:
        intra_op_threads: threads inside one kernel (a convolution); None = the usable cores.
        inter_op_threads: kernels run concurrently; None = the usable cores.

    Returns:
        A dict with the `intra_op_threads` and `inter_op_threads` in effect, `applied`: False when TensorFlow
        had already started its runtime (the pools were left as they were; call this first), and `onednn`:
        whether the oneDNN kernels run (`onednn_enabled()`).

    Raises:
        ValueError: naming the argument when a thread count is not a positive integer.
    """
    cores = cpu_cores()
    wanted = {"intra_op_threads": intra_op_threads, "inter_op_threads": inter_op_threads}
    for name, value in wanted.items():
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
    wanted = {name: int(value or cores) for name, value in wanted.items()}
    threading = tf.config.threading
    applied = True
    try:
        threading.set_intra_op_parallelism_threads(wanted["intra_op_threads"])
        threading.set_inter_op_parallelism_threads(wanted["inter_op_threads"])
    except RuntimeError:  # the runtime is already initialised
        applied = (threading.get_intra_op_parallelism_threads() == wanted["intra_op_threads"]
                   and threading.get_inter_op_parallelism_threads() == wanted["inter_op_threads"])
    return {"intra_op_threads": threading.get_intra_op_parallelism_threads() or cores,
            "inter_op_threads": threading.get_inter_op_parallelism_threads() or cores, "applied": applied,
            "onednn": onednn_enabled()}


__all__ = ["Adam", "configure", "cpu_cores", "onednn_enabled"]
