"""TFLite (LiteRT) export: batch-1, fixed-size graphs in fp32, fp16 or full-integer int8.

How the conversion is done, and why:

* The model is traced at `[1, H, W, 3]` (`tf.function(...).get_concrete_function(TensorSpec([1, H, W, 3],
  name="image"))`). With static shapes the converter folds batch normalisation into the convolutions and
  turns dilated convolutions into plain CONV_2D with dilation, instead of SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND.
* The concrete function is converted FROZEN (`TFLiteConverter.from_concrete_functions([cf])` with
  `experimental_lower_to_saved_model = False`: variables become constants). The converter's default path
  writes the function to a temporary SavedModel and loads it back first, which took ~70% of each
  conversion of ENet (4 of 6 s) for the same operators and outputs. That path is also the one that adds a
  SignatureDef, so `_with_signature` writes it into the flatbuffer afterwards: `serving_default`, input
  `image`, output `logits` (`Interpreter.get_signature_runner()` works as on a converted SavedModel).
* int8 is full-integer: `TFLITE_BUILTINS_INT8` only; uint8 input and float32 output (default), or int8 input
  and output (`INT8_IO_TYPES`). The converter only calibrates (`_experimental_calibrate_only`); `mean_ranges`
  then sets each activation's range to the mean of its per-image extremes (not the extremes over all images),
  and `mlir_quantize` quantizes.
  Selective quantization: ops of layers that declare `keep_float_in_int8 = True` stay float32, wrapped in
  DEQUANTIZE / QUANTIZE, while every other op is int8: the quantizer runs with those ops on its denylist
  (`mlir_quantize(..., denylisted_nodes=...)`, the mechanism behind `tf.lite.experimental.QuantizationDebugger`).
  Those layers are the ones that cannot live in 8 bits (the coordinate arithmetic of `kerasseg.layers.FlowWarp`)
  and those that XNNPACK runs faster in float than as int8 ops (`PReLU`, whose int8 kernel it lacks, and
  `MaxUnpooling2D`'s comparisons, which it does not run in either type): a DEQUANTIZE / QUANTIZE pair costs
  less than the int8 element-wise ops they replace (each layer's docstring has the measurements).
"""
import os
import re
import warnings

import numpy as np
import tensorflow as tf

from kerasseg.export.savedmodel import INPUT_NAME, SIGNATURE_KEY
from kerasseg.litert.runtime import (  # noqa: F401  (the one interpreter / flatbuffer copy, re-exported)
    dequantize_output,
    graph_summary,
    make_interpreter,
    non_builtin_ops,
    pack_flatbuffer,
    quantize_input,
    read_model,
    run_interpreter,
    run_tflite,
    tflite_op_counts,
    tflite_ops,
    tflite_schema,
    xnnpack_partitions,
)
from kerasseg.registry import size_divisor

_schema = tflite_schema

QUANTIZATIONS = ("fp32", "fp16", "int8")
#: int8_io -> (input, output) tensor types of the int8 model. "uint8": the camera's bytes in, float32 class scores
#: out (what MediaPipe loads; a uint8 output would add an int8 -> uint8 QUANTIZE that XNNPACK leaves to LiteRT's
#: own kernel: 1.6 ms of CamVid ENet's 360x480 int8 graph, 1 thread, where the DEQUANTIZE to float32 runs in
#: XNNPACK in 0.15 ms). "int8": int8 in and out, for apps that call the LiteRT interpreter themselves.
INT8_IO_TYPES = {"uint8": (tf.uint8, tf.float32), "int8": (tf.int8, tf.int8)}
OUTPUT_NAME = "logits"
MEDIAPIPE_INT8_IO_MESSAGE = (
    "an int8 model with int8 (signed) input/output cannot be loaded by MediaPipe's ImageSegmenter (Android): "
    "MediaPipe feeds camera images as uint8 or float32 only. Export with int8_io='uint8' (the default, "
    "--int8-io uint8) for MediaPipe; int8 I/O is for apps that call the LiteRT interpreter themselves."
)


def resolve_input_size(model, input_size):
    """Returns the (height, width) to trace the model at, checked against the model's size divisor.

    Args:
        model: the `keras.Model`.
        input_size: (height, width), or None to use the model's static input size.

    Returns:
        (height, width) as ints.

    Raises:
        ValueError: no size can be determined, or it is not a multiple of the model's size divisor.
    """
    if input_size is None:
        height, width = tuple(model.inputs[0].shape)[1:3]
        if height is None or width is None:
            raise ValueError(
                f"input_size=(height, width) is required: model {model.name!r} has a dynamic input size."
            )
    else:
        if len(tuple(input_size)) != 2:
            raise ValueError(f"input_size must be (height, width), got {input_size!r}.")
        height, width = (int(v) for v in input_size)
    divisor = size_divisor(model)
    if height < 1 or width < 1 or height % divisor or width % divisor:
        raise ValueError(
            f"input_size {(height, width)} must be positive multiples of {divisor} for model {model.name!r}."
        )
    return int(height), int(width)


def _concrete_function(model, height, width):
    fn = tf.function(lambda image: {OUTPUT_NAME: tf.cast(model(image, training=False), tf.float32)})
    return fn.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32, name=INPUT_NAME))


def trace_for_tflite(model, input_size=None):
    """Traces the batch-1 graph once, for converting it several times (`convert_tflite(traced=...)`): the fp32,
    fp16 and int8 files all convert the same graph.

    Args:
        model: the `keras.Model`.
        input_size: (height, width); None for the model's static input size.

    Returns:
        An opaque (input size, concrete function) pair.
    """
    height, width = resolve_input_size(model, input_size)
    return (height, width), _concrete_function(model, height, width)


def float_layer_names(model):
    """Names of the layers (nested models included) that ask to stay float in an int8 model.

    Args:
        model: a `keras.Model`.

    Returns:
        Sorted names of the layers whose class sets `keep_float_in_int8 = True` (e.g. `FlowWarp`).
    """
    return sorted({layer.name for layer in model._flatten_layers(include_self=False, recursive=True)
                   if getattr(layer, "keep_float_in_int8", False)})


def _tensor_names(buffer):
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(buffer, 0)
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            name = tensor.name
            yield name.decode() if isinstance(name, bytes) else str(name)


def _tensors_of_layers(buffer, layer_names, all_layer_names):
    """Tensor names of a converted model that come from ops created inside the named layers.

    A traced layer's ops live under the name scope `<layer>` or `<layer>_<n>` (the n-th trace of the same
    name); a scope `<layer>_<n>` that is itself the name of another layer is not taken. Fused ops carry
    several names joined by ";".
    """
    patterns = [re.compile(rf"(?:^|/)({re.escape(name)}(?:_\d+)?)/") for name in layer_names]

    def inside(part):
        for pattern, name in zip(patterns, layer_names):
            for scope in pattern.findall(part):
                if scope == name or scope not in all_layer_names:
                    return True
        return False

    return [name for name in _tensor_names(buffer) if any(inside(part) for part in name.split(";"))]


def _representative_samples(representative_images, height, width):
    """Validates the calibration images and returns them as float32 [1, H, W, 3] arrays."""
    if representative_images is None:
        raise ValueError(
            "representative_images is required for quantization='int8': pass an iterable of float32 "
            f"[{height}, {width}, 3] images in [0, 255] (a few dozen real training images)."
        )
    samples = []
    for i, image in enumerate(representative_images):
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 3:
            image = image[None]
        if image.shape != (1, height, width, 3):
            raise ValueError(
                f"representative_images[{i}] has shape {image.shape}; expected [{height}, {width}, 3] or "
                f"[1, {height}, {width}, 3] (the export input_size)."
            )
        samples.append(image)
    if not samples:
        raise ValueError("representative_images is empty; int8 calibration needs at least one image.")
    # The input's quantisation comes from the range the calibration images cover. Make it the full pixel range
    # so that the uint8 input is exactly the raw pixel bytes (scale 1, zero point 0): one extra sample, a copy
    # of the first with a single black and a single white pixel, which leaves the activation ranges unchanged.
    full_range = samples[0].copy()
    full_range[0, 0, 0, :] = 0.0
    full_range[0, 0, -1, :] = 255.0
    return samples + [full_range]


def convert_tflite(model, quantization="fp32", input_size=None, representative_images=None, int8_io="uint8",
                   allow_select_tf_ops=False, float_layers=None, traced=None):
    """Converts a Keras segmentation model to a `.tflite` flatbuffer held in memory.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        quantization: "fp32", "fp16" (float16 weights, float32 input and output) or "int8" (full integer).
        input_size: (height, width) of the batch-1 graph; None to use the model's static input size.
        representative_images: for "int8" only: an iterable of float32 [H, W, 3] or [1, H, W, 3] images in
            [0, 255] used to calibrate the activation ranges (at least one).
        int8_io: for "int8" only: "uint8" (uint8 input, float32 output) or "int8" (int8 input and output).
        allow_select_tf_ops: also allow TensorFlow (Flex) ops. Off by default: Android apps ship the builtin
            runtime only. Meant for diagnosing ops that have no builtin kernel.
        float_layers: for "int8" only: names of layers whose ops stay float32 (selective quantization);
            None for the layers that declare `keep_float_in_int8` (`float_layer_names(model)`), () for a
            fully integer model.
        traced: the result of `trace_for_tflite(model, input_size)` to reuse its trace; None traces here.

    Returns:
        The flatbuffer as `bytes`.

    Raises:
        ValueError: an unknown `quantization` / `int8_io`, missing or mis-shaped `representative_images`, or
            `float_layers` naming a layer the model does not have.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")
    if int8_io not in INT8_IO_TYPES:
        raise ValueError(f"int8_io must be one of {tuple(INT8_IO_TYPES)}, got {int8_io!r}.")
    height, width = resolve_input_size(model, input_size)
    if traced is not None and traced[0] != (height, width):
        raise ValueError(f"traced is for input size {traced[0]}, not {(height, width)}.")
    samples = None
    if quantization == "int8":
        samples = _representative_samples(representative_images, height, width)

    _, concrete = traced or trace_for_tflite(model, (height, width))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.experimental_lower_to_saved_model = False  # frozen: no temporary SavedModel (module docstring)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type, converter.inference_output_type = INT8_IO_TYPES[int8_io]

        def representative_dataset():
            for sample in samples:
                yield [sample]  # the frozen graph's one input (it has no signature to key it by)

        converter.representative_dataset = representative_dataset
    if allow_select_tf_ops:
        ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
    converter.target_spec.supported_ops = ops
    if quantization == "int8":
        all_names = {layer.name for layer in model._flatten_layers(include_self=False, recursive=True)}
        float_layers = float_layer_names(model) if float_layers is None else list(float_layers)
        unknown = [name for name in float_layers if name not in all_names]
        if unknown:
            raise ValueError(f"float_layers names layers that model {model.name!r} does not have: {unknown}.")
    with warnings.catch_warnings():
        # The frozen path warns that int8 input statistics were not given: post-training quantization takes
        # them from the calibration (the uint8 input is still scale 1, zero point 0; tested).
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        if quantization == "int8":
            return _with_signature(_quantize(converter, samples, float_layers, all_names, *INT8_IO_TYPES[int8_io]))
        return _with_signature(converter.convert())


def _with_signature(flatbuffer):
    """Names the one input `image` and the one output `logits` and adds the `serving_default` SignatureDef."""
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    (subgraph,) = model.subgraphs
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ValueError(f"expected one input and one output, got {len(subgraph.inputs)} and {len(subgraph.outputs)}.")
    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY
    signature.subgraphIndex = 0
    signature.inputs, signature.outputs = [], []
    for name, index, maps in ((INPUT_NAME, subgraph.inputs[0], signature.inputs),
                              (OUTPUT_NAME, subgraph.outputs[0], signature.outputs)):
        subgraph.tensors[index].name = name
        tensor_map = schema.TensorMapT()
        tensor_map.name, tensor_map.tensorIndex = name, int(index)
        maps.append(tensor_map)
    model.signatureDefs = [signature]
    return pack_flatbuffer(model, b"TFL3")


def _quantize(converter, samples, float_layers, all_layer_names, input_type, output_type):
    """Calibrates, sets the activation ranges (`mean_ranges`), then quantizes to int8 every op except those
    created inside `float_layers`."""
    from tensorflow.lite.python.convert import mlir_quantize

    converter._experimental_calibrate_only = True  # float model + calibration statistics
    calibrated = mean_ranges(converter.convert(), samples)
    denylisted = None
    if float_layers:
        denylisted = _tensors_of_layers(calibrated, float_layers, all_layer_names)
        if not denylisted:
            raise ValueError(f"float_layers {float_layers} matched no op of the converted model.")
    return mlir_quantize(calibrated, input_data_type=input_type, output_data_type=output_type,
                         denylisted_nodes=denylisted)


def mean_ranges(calibrated, samples):
    """Sets every intermediate activation's int8 range to the mean over the calibration images of its per-image
    minimum and maximum.

    The converter's calibration keeps each tensor's minimum and maximum over all images, so one unusual image
    widens a range for every image, and each int8 step grows with it. Averaging per-image extremes (as
    quantization-aware training does with its moving averages) gives narrower ranges; the rare values beyond
    them saturate. The model's input and output keep the extremes: the uint8 image stays scale 1, and no two
    class scores saturate to a tie. Measured on ENet trained on CamVid (whole val split through LiteRT, 64
    calibration frames): int8 val mIoU 59.1 with the extremes, 63.4 with the means (float 63.8); TF's
    QuantizationDebugger showed pure rounding error (RMSE / scale 0.29-0.33) at every op either way.

    Args:
        calibrated: the flatbuffer of a calibrate-only conversion (float ops, tensors carry min/max).
        samples: the calibration images, float32 [1, H, W, 3].

    Returns:
        The flatbuffer with the new ranges.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(calibrated, 0)
    subgraph = model.subgraphs[0]
    ends = set(subgraph.inputs) | set(subgraph.outputs)
    ranged = [i for i, tensor in enumerate(subgraph.tensors)
              if i not in ends and tensor.type == schema.TensorType.FLOAT32 and tensor.quantization is not None
              and tensor.quantization.min is not None and len(tensor.quantization.min) == 1]
    # Every intermediate tensor kept readable, so no delegate (XNNPACK would fuse them away).
    interpreter = Interpreter(model_content=bytes(calibrated), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    image = interpreter.get_input_details()[0]["index"]
    sums = np.zeros([len(ranged), 2])
    for sample in samples:
        interpreter.set_tensor(image, sample)
        interpreter.invoke()
        for k, index in enumerate(ranged):
            values = interpreter.tensor(index)()  # a view, no copy; released before the next invoke()
            sums[k] += values.min(), values.max()
            del values
    means = sums / len(samples)
    for (low, high), index in zip(means, ranged):
        quantization = subgraph.tensors[index].quantization
        quantization.min, quantization.max = [min(float(low), 0.0)], [max(float(high), 0.0)]
    return pack_flatbuffer(model, b"TFL3")


def export_tflite(model, path, quantization="fp32", input_size=None, representative_images=None, int8_io="uint8",
                  allow_select_tf_ops=False, float_layers=None, class_names=None, traced=None):
    """Converts the model to TFLite and writes it to `path`.

    Args:
        model: a `keras.Model` mapping float32 RGB [B, H, W, 3] in [0, 255] to logits [B, H, W, C].
        path: the `.tflite` file to write (parent directories are created).
        quantization: "fp32", "fp16" or "int8"; see `convert_tflite`.
        input_size: (height, width) of the batch-1 graph; None to use the model's static input size.
        representative_images: int8 calibration images, float32 [H, W, 3] or [1, H, W, 3] in [0, 255].
        int8_io: for int8: "uint8" (uint8 input, float32 output) or "int8" (int8 input and output).
        allow_select_tf_ops: allow Flex (TensorFlow) ops; see `convert_tflite`.
        float_layers: int8 only: layers kept float (selective quantization); see `convert_tflite`.
        class_names: the model's class names: adds the MediaPipe `ImageSegmenter` metadata (normalization,
            labels, SOFTMAX activation; `kerasseg.export.metadata`, needs the `mediapipe` wheel). None writes
            the bare model.
        traced: a `trace_for_tflite` result to reuse; see `convert_tflite`.

    Returns:
        `path` (a str).

    Raises:
        ImportError: `class_names` given without the `mediapipe` wheel (naming the install command).
        ValueError: `class_names` for an int8 model with int8 I/O, which MediaPipe cannot load.
    """
    if class_names is not None and quantization == "int8" and int8_io == "int8":
        raise ValueError(MEDIAPIPE_INT8_IO_MESSAGE)
    flatbuffer = convert_tflite(model, quantization, input_size, representative_images, int8_io,
                                allow_select_tf_ops, float_layers, traced)
    if class_names is not None:
        from kerasseg.export.metadata import add_segmenter_metadata

        flatbuffer = add_segmenter_metadata(flatbuffer, class_names, model_name=model.name)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path


def assert_builtin_ops_only(path_or_bytes):
    """Raises if the model needs anything beyond the builtin LiteRT kernels.

    Args:
        path_or_bytes: path of a `.tflite` file, or its bytes.

    Returns:
        The list of (builtin) op names, as `tflite_ops` returns it.

    Raises:
        ValueError: naming the file and every Flex or custom op it contains.
    """
    _, source = read_model(path_or_bytes)
    bad = non_builtin_ops(path_or_bytes)
    if bad:
        flex = [op for op in bad if op.startswith("Flex")]
        custom = [op for op in bad if not op.startswith("Flex")]
        parts = []
        if flex:
            parts.append(f"Flex (TensorFlow select) ops {flex}, which need the Flex delegate")
        if custom:
            parts.append(f"custom ops {custom}, which need a registered custom kernel")
        raise ValueError(f"{source} is not builtin-only: it contains {' and '.join(parts)}.")
    return tflite_ops(path_or_bytes)
