"""Interpreter helpers shared by `tflite.run` and `tflite.benchmark` (LiteRT + numpy only)."""
import os

import numpy as np


def load_interpreter(path, num_threads=None):
    """Creates and allocates a LiteRT interpreter.

    Args:
        path: the `.tflite` file.
        num_threads: CPU threads; None for the runtime's default.

    Returns:
        The allocated `ai_edge_litert.interpreter.Interpreter`.

    Raises:
        FileNotFoundError: naming `path` when it does not exist.
    """
    from ai_edge_litert.interpreter import Interpreter

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TFLite model not found: {path}")
    interpreter = Interpreter(model_path=path, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def input_size(interpreter):
    """Returns the (height, width) of the model's [1, H, W, 3] input."""
    shape = interpreter.get_input_details()[0]["shape"]
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"expected a [1, H, W, 3] image input, the model has {list(shape)}.")
    return int(shape[1]), int(shape[2])


def to_input(image, detail):
    """Turns a float32 [H, W, 3] image in [0, 255] into the input tensor (quantized for integer inputs)."""
    x = np.asarray(image, dtype=np.float32)[None]
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def from_output(array, detail):
    """Returns an output tensor as float32, dequantized for integer outputs."""
    if np.dtype(detail["dtype"]) == np.float32:
        return np.asarray(array, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)


def predict_logits(interpreter, image):
    """Runs one float32 [H, W, 3] image (at the model's input size) and returns float32 logits [H, W, C]."""
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    interpreter.set_tensor(input_detail["index"], to_input(image, input_detail))
    interpreter.invoke()
    return from_output(interpreter.get_tensor(output_detail["index"]), output_detail)[0]
