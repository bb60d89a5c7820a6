"""Where a `.tflite` model's time goes, operator by operator, with the LiteRT CPU runtime (XNNPACK).

    python -m kerasseg.litert.profile MODEL_fp32.tflite [MODEL_int8.tflite ...] [--threads 1] [--runs 10]
        [--rounds 3] [--image FILE] [--top 15]

LiteRT's Python interpreter has no per-operator profiler (that is the C++ `benchmark_model` tool's
`--enable_op_profiling`, which is not in the wheel). This tool gets the same answer from the runtime itself:
it cuts the model into one single-operator model per operator (the operator's weights, its quantization and its
options unchanged), feeds each the values its inputs had when the whole model ran on the image (a reference-
kernel run that keeps every intermediate tensor), and times `invoke()` of each with XNNPACK applied as on
Android's CPU path. An operator XNNPACK takes is timed in XNNPACK; one it leaves out runs on LiteRT's builtin
kernel, as it does in the whole graph.

The sum over operators is close to the whole graph's time but not equal: inside one XNNPACK partition the
delegate fuses some operators (an activation into the convolution before it) and keeps data in cache, and each
single-operator `invoke()` adds the interpreter's fixed cost (microseconds). Both totals are printed. The files
are timed interleaved (every operator of file A, of file B, then A again for `--rounds`), so a background load
slows them alike; each operator's time is the median over rounds of its mean over `--runs` invocations.

Printed per file: the whole graph and the sum over its operators; a table by operator kind (convolutions by
kernel size and dilation) with count, milliseconds, share and whether XNNPACK ran it; and a table by Keras layer
(the first component of the operator's output tensor name), sorted by the largest difference between the first
two files when two or more are given. Needs LiteRT and numpy only.
"""
import argparse
import copy
import os
import sys
import time

import numpy as np

from kerasseg.litert.benchmark import file_labels, text_table
from kerasseg.litert.runtime import _operators, quantize_input, read_model, resize_rgb, tflite_schema
from kerasseg.litert.runtime import xnnpack_partitions

CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
CALLS_SUBGRAPHS = ("WHILE", "IF", "CALL_ONCE", "CALL", "STABLEHLO_WHILE", "STABLEHLO_CASE")


def _name(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _is_constant(model, tensor):
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    return data is not None and len(data) > 0


def _kind(model, subgraph, op, name):
    """The op name, with the kernel size (and dilation) for convolutions: "CONV_2D 3x3", "CONV_2D 3x3 d4"."""
    if name not in CONVOLUTIONS:
        return name
    # CONV_2D / DEPTHWISE_CONV_2D: weights [O, H, W, I] / [1, H, W, C] are input 1; TRANSPOSE_CONV's are input 1 too.
    shape = list(subgraph.tensors[op.inputs[1]].shape)
    kind = f"{name} {shape[1]}x{shape[2]}"
    options = op.builtinOptions
    dilation = max(getattr(options, "dilationHFactor", 1) or 1, getattr(options, "dilationWFactor", 1) or 1)
    return kind + (f" d{dilation}" if dilation > 1 else "")


def _layer(subgraph, op):
    """The Keras layer that made an operator: the first component after the model's name in its output's name.

    The converter names a fused operator's output "a;b;..." (the first name is the op's own) and the model's
    tensors "model_name/layer_name/op"; Keras adds a "_1"-style suffix to names inside a traced call.
    """
    name = _name(subgraph.tensors[op.outputs[0]].name).split(";")[0]
    parts = name.split("/")
    layer = parts[1] if len(parts) > 2 else parts[0]
    stem, _, suffix = layer.rpartition("_")
    return stem if stem and suffix.isdigit() and len(parts) > 2 else layer


def single_op_models(path_or_bytes):
    """Cuts a `.tflite` model into one model per operator of its main subgraph.

    Each model holds one operator with its own tensors, weights (constant inputs), quantization and options; its
    inputs are the operator's non-constant inputs and its outputs the operator's outputs.

    Args:
        path_or_bytes: path of a `.tflite` file, or its bytes.

    Returns:
        A list, in execution order, of dicts: index (operator index in the main subgraph), op (e.g. "CONV_2D"),
        kind (`op` with the kernel size for convolutions), layer (see `_layer`), inputs / outputs (tensor indices
        in the original model, in the order of the single-op model's inputs / outputs), flatbuffer (bytes).

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: the model has an operator that calls other subgraphs (WHILE, IF, CALL_ONCE, ...), which
            one operator alone cannot run.
    """
    from kerasseg.litert.runtime import pack_flatbuffer

    buffer, source = read_model(path_or_bytes)
    schema = tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(buffer, 0)
    subgraph = model.subgraphs[0]
    names = [name for graph_index, name, _ in _operators(buffer) if graph_index == 0]  # in operator order
    result = []
    for index, (op, name) in enumerate(zip(subgraph.operators, names)):
        if name in CALLS_SUBGRAPHS:
            raise ValueError(f"{source}: operator {index} ({name}) calls another subgraph; it cannot be "
                             f"profiled alone.")
        intermediates = list(op.intermediates) if op.intermediates is not None else []  # e.g. an LSTM's
        used = list(dict.fromkeys(t for t in list(op.inputs) + list(op.outputs) + intermediates if t >= 0))
        remap = {t: i for i, t in enumerate(used)}
        buffers = [schema.BufferT()]  # buffer 0: the empty buffer of every non-constant tensor
        tensors = []
        for t in used:
            tensor = copy.copy(subgraph.tensors[t])
            if _is_constant(model, tensor):
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
            tensors.append(tensor)
        inputs = [t for t in dict.fromkeys(t for t in op.inputs if t >= 0)
                  if not _is_constant(model, subgraph.tensors[t])]
        single = copy.copy(op)
        single.inputs = [remap[t] if t >= 0 else -1 for t in op.inputs]
        single.outputs = [remap[t] for t in op.outputs]
        single.intermediates = [remap[t] for t in intermediates] or None
        graph = schema.SubGraphT()
        graph.tensors, graph.operators, graph.name = tensors, [single], subgraph.name
        graph.inputs, graph.outputs = [remap[t] for t in inputs], [remap[t] for t in op.outputs]
        one = schema.ModelT()
        one.version, one.operatorCodes, one.description = model.version, model.operatorCodes, model.description
        one.subgraphs, one.buffers = [graph], buffers
        result.append({"index": index, "op": name, "kind": _kind(model, subgraph, op, name),
                       "layer": _layer(subgraph, op), "inputs": inputs, "outputs": list(op.outputs),
                       "flatbuffer": pack_flatbuffer(one, b"TFL3")})
    return result


def intermediate_values(path_or_bytes, image):
    """Runs a `.tflite` model on one image with LiteRT's reference kernels, keeping every tensor.

    Args:
        path_or_bytes: path of a `.tflite` file, or its bytes.
        image: float32 [H, W, 3] in [0, 255] at the model's input size (quantized for an integer input).

    Returns:
        dict tensor index -> numpy array, for every tensor the run produced or read.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    buffer, _ = read_model(path_or_bytes)
    interpreter = Interpreter(model_content=buffer, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], quantize_input(np.asarray(image, np.float32)[None], detail))
    interpreter.invoke()
    values = {}
    for tensor in interpreter.get_tensor_details():
        try:
            values[tensor["index"]] = interpreter.get_tensor(tensor["index"])
        except ValueError:  # a tensor with no data (e.g. an optional input)
            continue
    return values


def _op_interpreter(op, values, num_threads):
    """An allocated interpreter of one of `single_op_models`' models, its inputs set from `values`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=op["flatbuffer"], num_threads=num_threads)
    interpreter.allocate_tensors()
    for detail, tensor in zip(interpreter.get_input_details(), op["inputs"]):
        interpreter.set_tensor(detail["index"], values[tensor])
    return interpreter


def _time(interpreter, runs):
    interpreter.invoke()  # warm-up: XNNPACK packs weights and plans on the first call
    start = time.perf_counter()
    for _ in range(runs):
        interpreter.invoke()
    return (time.perf_counter() - start) * 1e3 / runs


def profile(model_paths, num_threads=1, runs=10, rounds=3, image=None, seed=0):
    """Times every operator of each model alone (see the module docstring), interleaving the models.

    Args:
        model_paths: one `.tflite` file or a list of them (batch-1 image models).
        num_threads: CPU threads.
        runs: timed invocations per operator and round (>= 1).
        rounds: rounds over all files (>= 1); each time is the median over rounds.
        image: float32 [H, W, 3] in [0, 255], resized to each model's input size; None for a random image.
        seed: seed of the random image.

    Returns:
        dict model path -> {"graph_ms": the whole graph's median ms, "ops": list of dicts (single_op_models' keys
        without the flatbuffer, plus ms and xnnpack: whether XNNPACK ran the operator)}.

    Raises:
        ValueError: runs or rounds < 1.
        FileNotFoundError: naming a missing model.
    """
    from kerasseg.litert.runtime import input_size, make_interpreter

    if runs < 1 or rounds < 1:
        raise ValueError(f"runs and rounds must be >= 1, got runs={runs}, rounds={rounds}.")
    if isinstance(model_paths, (str, os.PathLike)):
        model_paths = [model_paths]
    states = {}
    for path in model_paths:
        whole = make_interpreter(path, num_threads=num_threads)
        height, width = input_size(whole)
        if image is None:
            picture = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
        else:
            picture = resize_rgb(image, height, width)
        detail = whole.get_input_details()[0]
        whole.set_tensor(detail["index"], quantize_input(picture[None], detail))
        values = intermediate_values(path, picture)
        ops = single_op_models(path)
        for op in ops:
            partitions = xnnpack_partitions(_op_interpreter(op, values, num_threads))
            op["xnnpack"] = partitions["partitions"] > 0 and not partitions["left_out"]
            op["times"] = []
        states[path] = {"whole": whole, "graph_times": [], "ops": ops, "values": values}
    for _ in range(rounds):
        for state in states.values():
            state["graph_times"].append(_time(state["whole"], runs))
            for op in state["ops"]:
                op["times"].append(_time(_op_interpreter(op, state["values"], num_threads), runs))
    result = {}
    for path, state in states.items():
        ops = [{**{k: v for k, v in op.items() if k not in ("flatbuffer", "times")},
                "ms": float(np.median(op["times"]))} for op in state["ops"]]
        result[path] = {"graph_ms": float(np.median(state["graph_times"])), "ops": ops}
    return result


def group(ops, key):
    """{key value: (count, ms, xnnpack)} over a profile's operators, in first-use order; xnnpack is True, False
    or "some"."""
    groups = {}
    for op in ops:
        count, ms, xnnpack = groups.get(op[key], (0, 0.0, None))
        xnnpack = op["xnnpack"] if xnnpack in (None, op["xnnpack"]) else "some"
        groups[op[key]] = (count + 1, ms + op["ms"], xnnpack)
    return groups


def format_report(result, top=15):
    """The printed report of `profile`'s result: totals, by operator kind, by layer (module docstring)."""
    paths = list(result)
    labels = file_labels(paths)
    lines = []
    for path, label in zip(paths, labels):
        ops = result[path]["ops"]
        total = sum(op["ms"] for op in ops)
        xnn = sum(op["xnnpack"] for op in ops)
        lines.append(f"{label}: whole graph {result[path]['graph_ms']:.2f} ms; {len(ops)} operators, "
                     f"{xnn} of them in XNNPACK, {total:.2f} ms one by one")
    by_kind = [group(result[p]["ops"], "kind") for p in paths]
    totals = [sum(op["ms"] for op in result[p]["ops"]) for p in paths]
    kinds = list(dict.fromkeys(k for g in by_kind for k in g))
    kinds.sort(key=lambda k: -max(g.get(k, (0, 0.0, None))[1] for g in by_kind))
    header = ["operator kind"]
    for label in labels:
        header += [f"{label} n", "ms", "%", "XNNPACK"]
    rows = []
    for kind in kinds:
        row = [kind]
        for g, total in zip(by_kind, totals):
            count, ms, xnnpack = g.get(kind, (0, 0.0, None))
            row += ([str(count), f"{ms:.2f}", f"{100 * ms / total:.1f}",
                     {True: "yes", False: "no", "some": "some"}[xnnpack]] if count else ["0", "-", "-", "-"])
        rows.append(row)
    lines += ["", "By operator kind:", text_table(header, rows)]
    by_layer = [group(result[p]["ops"], "layer") for p in paths]
    layers = list(dict.fromkeys(k for g in by_layer for k in g))
    ms = [[g.get(layer, (0, 0.0, None))[1] for g in by_layer] for layer in layers]
    if len(paths) > 1:
        order = sorted(range(len(layers)), key=lambda i: -(ms[i][1] - ms[i][0]))
        title = f"By layer, the {min(top, len(layers))} with the largest {labels[1]} - {labels[0]} difference:"
        header = ["layer"] + [f"{label} ms" for label in labels] + [f"{labels[1]} - {labels[0]} ms"]
        rows = [[layers[i]] + [f"{v:.2f}" for v in ms[i]] + [f"{ms[i][1] - ms[i][0]:+.2f}"] for i in order[:top]]
    else:
        order = sorted(range(len(layers)), key=lambda i: -ms[i][0])
        title = f"By layer, the {min(top, len(layers))} slowest:"
        header = ["layer", f"{labels[0]} ms"]
        rows = [[layers[i], f"{ms[i][0]:.2f}"] for i in order[:top]]
    lines += ["", title, text_table(header, rows)]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasseg.litert.profile",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("models", nargs="+", help=".tflite files (e.g. NAME_fp32.tflite NAME_int8.tflite)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--runs", type=int, default=10, help="timed invocations per operator and round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the files (default 3)")
    parser.add_argument("--image", help="image to feed (resized to the model's input); default a random image")
    parser.add_argument("--top", type=int, default=15, help="layers to list (default 15)")
    args = parser.parse_args(argv)
    try:
        image = None
        if args.image:
            from kerasseg.litert.run import read_rgb

            image = read_rgb(args.image)
        result = profile(args.models, num_threads=args.threads, runs=args.runs, rounds=args.rounds, image=image)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"LiteRT CPU, {args.threads} thread(s), each operator alone ({args.rounds} interleaved rounds of "
          f"{args.runs} runs; {'image ' + args.image if args.image else 'random image'})")
    print(format_report(result, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
