"""Latency of `.tflite` models with the LiteRT CPU runtime (XNNPACK), per thread count, and the int8/fp32 ratio.

    python -m kerasseg.litert.benchmark MODEL_fp32.tflite [MODEL_fp16.tflite MODEL_int8.tflite ...]
        [--runs 50] [--warmup 3] [--threads 1 2] [--images FOLDER]

Feeds a fixed random input of each model's input shape and dtype (or, with `--images`, the images of a folder
resized to the input size, in turn), runs `--warmup` untimed invocations, then times `--runs` invocations and
prints mean / p50 / p90 / min latency in milliseconds per model and thread count, with how the XNNPACK delegate
partitioned each graph. The models are measured interleaved (model A, model B, A, B... for each thread count),
so a ratio compares runs made under the same machine load; when the files are named `*_fp32` and `*_int8`,
the int8/fp32 ratio of the mean latency is printed per thread count (for each int8 file against each fp32 file).
Files are named by their base names, or by as much of their paths as tells them apart (`a/enet_int8.tflite`,
`b/enet_int8.tflite`). Needs LiteRT and numpy only.
"""
import argparse
import os
import sys
import time

import numpy as np

from kerasseg.litert.runtime import describe_partitions, input_size, make_interpreter, quantize_input
from kerasseg.litert.runtime import resize_rgb, xnnpack_partitions


def model_kind(path):
    """The quantization a kerasseg file name ends with ("fp32", "fp16", "int8"), else the file's stem."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    suffix = stem.rsplit("_", 1)[-1]
    return suffix if suffix in ("fp32", "fp16", "int8") else stem


def file_labels(paths):
    """Short names of files for a table: their base names, or the shortest trailing parts of their paths that
    tell them apart (`old/enet_int8.tflite`, `new/enet_int8.tflite`)."""
    parts = [os.path.normpath(os.path.abspath(os.fspath(p))).split(os.sep) for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [os.fspath(p) for p in paths]  # the same file given twice


def _inputs(interpreter, images, seed):
    detail = interpreter.get_input_details()[0]
    if images:
        height, width = input_size(interpreter)
        return [quantize_input(resize_rgb(image, height, width)[None], detail) for image in images]
    dtype = np.dtype(detail["dtype"])
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return [rng.uniform(0, 255, detail["shape"]).astype(np.float32)]
    info = np.iinfo(dtype)
    return [rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(dtype)]


def benchmark(model_paths, threads=(1, 2), runs=50, warmup=3, seed=0, images=None):
    """Times `interpreter.invoke()` for each model and thread count, interleaving the models.

    Args:
        model_paths: one `.tflite` file or a list of them.
        threads: thread counts to measure.
        runs: timed invocations per model and thread count (>= 1).
        warmup: untimed invocations first.
        seed: seed of the random input.
        images: optional list of uint8 RGB images fed in turn instead of the random input.

    Returns:
        A list of dicts: path (as given), model (its label, `file_labels`), kind, threads, runs, mean_ms,
        p50_ms, p90_ms, min_ms, partitions (see `kerasseg.litert.runtime.xnnpack_partitions`).

    Raises:
        ValueError: `runs` < 1.
        FileNotFoundError: naming a missing model.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}.")
    if isinstance(model_paths, (str, os.PathLike)):
        model_paths = [model_paths]
    labels = dict(zip(model_paths, file_labels(model_paths)))
    rows = []
    for num_threads in threads:
        states = []
        for path in model_paths:
            interpreter = make_interpreter(path, num_threads=num_threads)
            feeds = _inputs(interpreter, images, seed)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.set_tensor(index, feeds[0])
            for _ in range(warmup):
                interpreter.invoke()
            states.append((path, interpreter, feeds, index, []))
        for run in range(runs):
            for _, interpreter, feeds, index, times in states:
                if len(feeds) > 1:
                    interpreter.set_tensor(index, feeds[run % len(feeds)])
                start = time.perf_counter()
                interpreter.invoke()
                times.append((time.perf_counter() - start) * 1e3)
        for path, interpreter, _, _, times in states:
            times = np.asarray(times)
            rows.append({
                "path": path, "model": labels[path], "kind": model_kind(path), "threads": int(num_threads),
                "runs": int(runs), "mean_ms": float(times.mean()), "p50_ms": float(np.percentile(times, 50)),
                "p90_ms": float(np.percentile(times, 90)), "min_ms": float(times.min()),
                "partitions": xnnpack_partitions(interpreter),
            })
    return rows


def int8_fp32_ratios(rows):
    """[(int8 label, fp32 label, threads, int8 mean / fp32 mean)] for every int8 and fp32 file measured at the
    same thread count."""
    return [(q["model"], f["model"], q["threads"], q["mean_ms"] / f["mean_ms"])
            for q in rows if q["kind"] == "int8" for f in rows if f["kind"] == "fp32" and f["threads"] == q["threads"]]


def text_table(header, rows):
    """An aligned plain-text table: the first column left-aligned, the others right-aligned, a rule under the
    header. `header` and each row are lists of strings."""
    cells = [header] + rows
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(rows, title=None):
    """Renders benchmark rows as an aligned plain-text table (one line per model and thread count)."""
    header = ["model", "threads", "runs", "mean ms", "p50 ms", "p90 ms", "min ms"]
    cells = [[r["model"], str(r["threads"]), str(r["runs"])]
             + [f"{r[k]:.2f}" for k in ("mean_ms", "p50_ms", "p90_ms", "min_ms")] for r in rows]
    return "\n".join(([title] if title else []) + [text_table(header, cells)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasseg.litert.benchmark",
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument("models", nargs="+", help=".tflite files (e.g. NAME_fp32 / _fp16 / _int8.tflite)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per model and thread count (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--images", help="folder (or file) of images to feed instead of a random input")
    args = parser.parse_args(argv)
    try:
        images = None
        if args.images:
            from kerasseg.litert.run import list_images, read_rgb

            images = [read_rgb(path) for path in list_images([args.images])]
        rows = benchmark(args.models, threads=args.threads, runs=args.runs, warmup=args.warmup, images=images)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in args.models:
        detail = make_interpreter(path).get_input_details()[0]
        row = next(r for r in rows if r["path"] == path)
        print(f"{row['model']}: input {[int(v) for v in detail['shape']]} "
              f"{np.dtype(detail['dtype']).name}; {describe_partitions(row['partitions'])}")
    source = f"{len(images)} images from {args.images}" if images else "random input"
    print(format_table(rows, f"LiteRT CPU (XNNPACK), {source}, interleaved runs"))
    pairs = int8_fp32_ratios(rows)
    named = len({(q, f) for q, f, _, _ in pairs}) > 1
    for int8, fp32, num_threads, ratio in pairs:
        which = f" ({int8} / {fp32})" if named else ""
        print(f"int8/fp32 mean latency at {num_threads} thread(s): {ratio:.2f}{which}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
