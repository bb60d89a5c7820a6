"""The one copy of the LiteRT interpreter code: load, quantize / dequantize, run, inspect `.tflite` files.

Needs only `ai_edge_litert` and numpy. `kerasseg.export` (parity, `kerasseg predict`) and the device-side tools
(`python -m kerasseg.litert.run` / `.benchmark`) both use it, so a `.tflite` file is fed and read the same way
on a workstation and in the checks that stand in for the phone.
"""
import os

import numpy as np


def tflite_schema():
    """The generated TFLite flatbuffer schema module (shipped with `ai_edge_litert`)."""
    from ai_edge_litert import schema_py_generated as schema

    return schema


def pack_flatbuffer(table, identifier):
    """Serialises a flatbuffer object-API table (a `ModelT`, a metadata table, ...) with its file identifier.

    Args:
        table: the object to pack (it has `.Pack(builder)`).
        identifier: the 4-byte file identifier, e.g. b"TFL3" for a `.tflite` model.

    Returns:
        The flatbuffer as `bytes`.
    """
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(table.Pack(builder), identifier)
    return bytes(builder.Output())


def read_model(path_or_bytes):
    """Returns (bytes, source name) of a `.tflite` file or of bytes already in memory.

    Raises:
        FileNotFoundError: naming the path when it does not exist.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "<tflite bytes>"
    path = os.fspath(path_or_bytes)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TFLite file not found: {path}")
    with open(path, "rb") as f:
        return f.read(), path


def make_interpreter(path, num_threads=None):
    """Creates and allocates a LiteRT interpreter (XNNPACK delegate applied, as on Android's CPU path).

    Args:
        path: the `.tflite` file.
        num_threads: CPU threads for the kernels; None for the runtime's default.

    Returns:
        The allocated `ai_edge_litert.interpreter.Interpreter`.

    Raises:
        FileNotFoundError: naming `path` when it does not exist.
    """
    from ai_edge_litert.interpreter import Interpreter

    read_model(path)  # clear error for a missing file
    interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def input_size(interpreter):
    """Returns the (height, width) of the model's [1, H, W, 3] image input.

    Raises:
        ValueError: the input is not [1, H, W, 3].
    """
    shape = interpreter.get_input_details()[0]["shape"]
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"expected a [1, H, W, 3] image input, the model has {list(shape)}.")
    return int(shape[1]), int(shape[2])


def resize_rgb(image, height, width):
    """A uint8 / float RGB image [H, W, 3] in [0, 255] at (height, width), bilinear, as float32.

    The image is returned as it is (as float32) when it already has that size; otherwise it is resized as a uint8
    image with Pillow, as an app resizes a camera frame (values outside [0, 255] clipped first, not wrapped).
    """
    from PIL import Image

    image = np.asarray(image)
    if image.shape[:2] != (height, width):
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        image = np.asarray(Image.fromarray(pixels).resize((width, height), Image.BILINEAR))
    return image.astype(np.float32)


def quantize_input(image, detail):
    """Maps a float32 array to the input tensor's dtype, quantizing with its scale / zero point.

    Args:
        image: float32 array in [0, 255].
        detail: the input's entry of `interpreter.get_input_details()`.

    Returns:
        The array in the tensor's dtype.

    Raises:
        ValueError: an integer input without a quantization scale.
    """
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.asarray(image, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ValueError(f"input tensor {detail['name']!r} is {dtype} but has no quantization scale.")
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(image, np.float32) / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize_output(array, detail):
    """Maps an output tensor to float32, dequantizing with its scale / zero point when it is integer.

    Raises:
        ValueError: an integer output without a quantization scale.
    """
    if np.dtype(detail["dtype"]) == np.float32:
        return np.asarray(array, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ValueError(f"output tensor {detail['name']!r} is {array.dtype} but has no quantization scale.")
    return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)


def run_interpreter(interpreter, images):
    """Runs an allocated batch-1 interpreter image by image.

    Args:
        interpreter: from `make_interpreter`.
        images: float32 [B, H, W, 3] or [H, W, 3] in [0, 255], at the model's input size.

    Returns:
        float32 logits [B, H, W, C] (dequantized for integer outputs).

    Raises:
        ValueError: the images do not have the model's input size.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    expected = tuple(int(v) for v in input_detail["shape"][1:])
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"images have shape {images.shape}; the TFLite model takes [B, {expected[0]}, {expected[1]}, "
            f"{expected[2]}] (resize first)."
        )
    outputs = []
    for image in images:
        interpreter.set_tensor(input_detail["index"], quantize_input(image[None], input_detail))
        interpreter.invoke()
        outputs.append(dequantize_output(interpreter.get_tensor(output_detail["index"]), output_detail))
    return np.concatenate(outputs, axis=0)


def run_tflite(path, images, num_threads=None):
    """Runs a `.tflite` model with the LiteRT interpreter.

    Args:
        path: the `.tflite` file.
        images: float32 [B, H, W, 3] or [H, W, 3] in [0, 255], at the model's input size.
        num_threads: CPU threads; None for the runtime's default.

    Returns:
        float32 logits [B, H, W, C]; integer outputs are dequantized with their scale and zero point.
    """
    return run_interpreter(make_interpreter(path, num_threads=num_threads), images)


def _operators(buffer):
    """Yields (subgraph index, op name, is_custom) for every operator; custom ops go by their custom_code.

    Reads the flatbuffer in place (the table API): only the operator codes and indices are touched, not the
    weights, which the object API (`ModelT`) would copy into Python objects.
    """
    schema = tflite_schema()
    model = schema.Model.GetRootAs(buffer, 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Builtin codes >= 127 live in `builtinCode`; older files only fill `deprecatedBuiltinCode`.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            codes.append((custom.decode() if isinstance(custom, bytes) else str(custom), True))
        else:
            codes.append((builtin_names.get(builtin, f"BUILTIN_{builtin}"), False))
    for index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(index)
        for j in range(subgraph.OperatorsLength()):
            yield (index,) + codes[subgraph.Operators(j).OpcodeIndex()]


def tflite_op_counts(path_or_bytes):
    """Counts how many times each op occurs in a `.tflite` model (all subgraphs).

    Args:
        path_or_bytes: path of a `.tflite` file, or its bytes.

    Returns:
        dict op name -> number of operators, in first-use order. Builtin ops go by their `BuiltinOperator`
        name (e.g. "CONV_2D"), custom ops by their custom code (Flex ops start with "Flex").
    """
    buffer, _ = read_model(path_or_bytes)
    counts = {}
    for _, name, _custom in _operators(buffer):
        counts[name] = counts.get(name, 0) + 1
    return counts


def tflite_ops(path_or_bytes):
    """Lists the distinct ops a `.tflite` model runs, in first-use order (see `tflite_op_counts`)."""
    return list(tflite_op_counts(path_or_bytes))


def non_builtin_ops(path_or_bytes):
    """Returns the distinct Flex (TensorFlow select) and other custom ops of a `.tflite` model."""
    buffer, _ = read_model(path_or_bytes)
    found = []
    for _, name, custom in _operators(buffer):
        if custom and name not in found:
            found.append(name)
    return found


def graph_summary(path_or_bytes):
    """What a GPU delegate / MediaPipe cares about in a `.tflite` file, read from the flatbuffer.

    Args:
        path_or_bytes: path of a `.tflite` file, or its bytes.

    Returns:
        dict: subgraphs (count), dynamic_tensors (names of tensors with a -1 in `shape_signature`),
        input_shape, input_dtype, output_shape, output_dtype (numpy dtype names), has_argmax.
    """
    buffer, _ = read_model(path_or_bytes)
    schema = tflite_schema()
    model = schema.Model.GetRootAs(buffer, 0)  # read in place, weights untouched (see `_operators`)
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    dynamic = []
    for index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(index)
        for i in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(i)
            if not tensor.ShapeSignatureIsNone() and (tensor.ShapeSignatureAsNumpy() < 0).any():
                name = tensor.Name()
                dynamic.append(name.decode() if isinstance(name, bytes) else str(name))
    main = model.Subgraphs(0)
    first_in, first_out = main.Tensors(main.Inputs(0)), main.Tensors(main.Outputs(0))
    names = {name for _, name, _ in _operators(buffer)}

    def shape(tensor):
        return [] if tensor.ShapeIsNone() else [int(v) for v in tensor.ShapeAsNumpy()]

    return {
        "subgraphs": model.SubgraphsLength(),
        "dynamic_tensors": dynamic,
        "input_shape": shape(first_in),
        "input_dtype": types[first_in.Type()],
        "output_shape": shape(first_out),
        "output_dtype": types[first_out.Type()],
        "has_argmax": bool({"ARG_MAX", "ARG_MIN"} & names),
    }


def xnnpack_partitions(interpreter):
    """How the XNNPACK delegate split an allocated interpreter's graph.

    Each DELEGATE node of the execution plan is one partition; the model's ops it replaced are found by walking
    back from the partition's outputs to its inputs. The rest run on the builtin (reference / optimized) kernels,
    e.g. int8 PRELU, which XNNPACK does not take.

    Args:
        interpreter: from `make_interpreter` (default delegates applied).

    Returns:
        dict: partitions (number of DELEGATE nodes), delegated_ops (count), left_out (dict op name -> count of
        model ops outside every partition).
    """
    details = interpreter._get_ops_details()
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    ops = [d for d in details if d["op_name"] != "DELEGATE"]
    producer = {int(t): d["index"] for d in ops for t in d["outputs"]}
    by_index = {d["index"]: d for d in ops}
    delegated = set()
    for node in delegates:
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            tensor = stack.pop()
            if tensor in boundary or tensor not in producer:
                continue
            index = producer[tensor]
            if index not in delegated:
                delegated.add(index)
                stack.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    left_out = {}
    for d in ops:
        if d["index"] not in delegated:
            left_out[d["op_name"]] = left_out.get(d["op_name"], 0) + 1
    return {"partitions": len(delegates), "delegated_ops": len(delegated), "left_out": left_out}


def describe_partitions(partitions):
    """One line for `xnnpack_partitions`' result, e.g. "2 XNNPACK partitions (31 ops), not delegated: PRELU x3"."""
    left = ", ".join(f"{name} x{count}" for name, count in partitions["left_out"].items()) or "none"
    return (f"{partitions['partitions']} XNNPACK partition(s) ({partitions['delegated_ops']} ops), "
            f"not delegated: {left}")
