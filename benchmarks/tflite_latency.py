"""LiteRT (XNNPACK) latency of the exported fp32 / fp16 / int8 models, at 1 and 2 threads, interleaved.

    python -m benchmarks.tflite_latency [--models enet dlv3] [--rounds 5] [--runs 10] [--keras-prelu]

Builds ENet at 360x480 and DeepLabv3+-MobileNetV2 at 512x512 (12 classes, initial weights: latency does not
depend on them), converts each with `kerasseg.export.tflite.convert_tflite` (int8 calibrated on 8 random
images), and times `invoke()` for every (model, format, threads) in interleaved rounds, so a background load
slows all of them alike. Prints the median ms, the int8 / fp32 speed ratio and the number of XNNPACK delegate
partitions of each file (DELEGATE nodes after LiteRT applied XNNPACK: 1 = the whole graph in XNNPACK).
`--keras-prelu` adds ENet built with Keras' PReLU, which the int8 file quantizes to int8 PRELU ops (XNNPACK has
no kernel for them; kerasseg's PReLU stays float32 there); its fp32 / fp16 graphs equal kerasseg's.
`--ablations relu unpool relu+unpool` add ENet variants that are not the paper's network, to measure what a kind
of op costs in each format: ReLU in place of every PReLU (a ReLU fuses into the convolution before it, in int8
too), and nearest-neighbour upsampling (DEPTH_TO_SPACE, delegated) in place of max-unpooling.
"""
import argparse
import collections
import contextlib
import importlib
import sys
import time

import numpy as np

MODELS = {"enet": ("enet", (360, 480)), "dlv3": ("deeplabv3plus", (512, 512))}
FORMATS = ("fp32", "fp16", "int8")


def delegate_partitions(interpreter):
    """Number of XNNPACK partitions (DELEGATE nodes in LiteRT's execution plan)."""
    ops = collections.Counter(d["op_name"] for d in interpreter._get_ops_details())
    return ops.pop("DELEGATE", 0)


VARIANT_LABELS = {"kerasseg": "", "keras": " (Keras PReLU)", "relu": " (ablation: ReLU)",
                  "unpool": " (ablation: no unpooling)", "relu+unpool": " (ablation: ReLU, no unpooling)"}


def _upsample_instead_of_unpooling(layer, inputs, training=None):
    import tensorflow as tf

    updates, _ = inputs
    return tf.nn.depth_to_space(tf.concat([updates] * layer.pool_size ** 2, axis=-1), layer.pool_size)


@contextlib.contextmanager
def build(model_name, size, variant="kerasseg"):
    """The model as the library builds it, with Keras' PReLU ("keras"), or an ablation (`VARIANT_LABELS`); the
    ablation stays in force inside the `with` block, where the model is traced."""
    import keras

    import kerasseg
    from kerasseg.layers import MaxUnpooling2D

    blocks = importlib.import_module("kerasseg.layers.conv_bn_act")  # where every model gets its PReLU
    saved = blocks.PReLU, MaxUnpooling2D.call
    if variant == "keras":
        blocks.PReLU = keras.layers.PReLU
    if "relu" in variant.split("+"):
        blocks.PReLU = lambda *args, name=None, **kwargs: keras.layers.ReLU(name=name)
    if "unpool" in variant.split("+"):
        MaxUnpooling2D.call = _upsample_instead_of_unpooling
    try:
        yield kerasseg.build_model(model_name, 12, input_shape=(*size, 3))
    finally:
        blocks.PReLU, MaxUnpooling2D.call = saved


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tflite_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["enet", "dlv3"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10, help="timed invokes per entry and round")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keras-prelu", action="store_true", help="also ENet with Keras' PReLU")
    parser.add_argument("--ablations", nargs="+", default=[], choices=("relu", "unpool", "relu+unpool"),
                        help="also these ENet ablations (module docstring)")
    parser.add_argument("--save", default=None, help="folder to write the .tflite files to")
    args = parser.parse_args(argv)

    from ai_edge_litert.interpreter import Interpreter

    from kerasseg.export.tflite import convert_tflite

    rng = np.random.default_rng(0)
    variants = [(name, "kerasseg") for name in args.models]
    if "enet" in args.models:
        variants += [("enet", "keras")] * args.keras_prelu + [("enet", ablation) for ablation in args.ablations]
    entries = []
    for name, variant in variants:
        model_name, size = MODELS[name]
        label = f"{name} {size[0]}x{size[1]}{VARIANT_LABELS[variant]}"
        with build(model_name, size, variant) as model:
            images = [rng.uniform(0, 255, (*size, 3)).astype(np.float32) for _ in range(8)]
            for fmt in args.formats:
                start = time.perf_counter()
                flatbuffer = convert_tflite(model, fmt, representative_images=images if fmt == "int8" else None)
                print(f"{label} {fmt}: converted in {time.perf_counter() - start:.0f} s", flush=True)
                if args.save:
                    suffix = "" if variant == "kerasseg" else f"_{variant.replace('+', '_')}"
                    with open(f"{args.save}/{name}{suffix}_{fmt}.tflite", "wb") as f:
                        f.write(flatbuffer)
                for threads in args.threads:
                    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
                    interpreter.allocate_tensors()
                    detail = interpreter.get_input_details()[0]
                    x = (rng.uniform(0, 255, detail["shape"]) if detail["dtype"] == np.float32
                         else rng.integers(0, 255, detail["shape"])).astype(detail["dtype"])
                    interpreter.set_tensor(detail["index"], x)
                    interpreter.invoke()
                    entries.append(dict(label=label, fmt=fmt, threads=threads, interpreter=interpreter, times=[],
                                        partitions=delegate_partitions(interpreter)))
    for _ in range(args.rounds):
        for entry in entries:
            for _ in range(args.runs):
                start = time.perf_counter()
                entry["interpreter"].invoke()
                entry["times"].append((time.perf_counter() - start) * 1e3)

    ms = {(e["label"], e["fmt"], e["threads"]): float(np.median(e["times"])) for e in entries}
    print()
    print("| model | format | threads | median ms | speed-up over fp32 | XNNPACK partitions |")
    print("|---|---|---:|---:|---:|---:|")
    for e in entries:
        fp32 = ms.get((e["label"], "fp32", e["threads"]))
        speedup = f"{fp32 / ms[(e['label'], e['fmt'], e['threads'])]:.2f}x" if fp32 else "n/a"
        print(f"| {e['label']} | {e['fmt']} | {e['threads']} | {ms[(e['label'], e['fmt'], e['threads'])]:.1f} | "
              f"{speedup} | {e['partitions']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
