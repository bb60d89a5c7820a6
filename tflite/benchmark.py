"""Latency of a `.tflite` model with the LiteRT CPU runtime, per thread count.

    python -m tflite.benchmark MODEL.tflite [--runs 50] [--warmup 3] [--threads 1 2]

Feeds a fixed random input of the model's input shape and dtype, runs `--warmup` untimed invocations, then
times `--runs` invocations and prints mean / p50 / p90 / min latency in milliseconds per thread count.
"""
import argparse
import os
import sys
import time

import numpy as np

from tflite._runtime import load_interpreter


def benchmark(model_path, threads=(1, 2), runs=50, warmup=3, seed=0):
    """Times `interpreter.invoke()` for each thread count.

    Args:
        model_path: the `.tflite` file.
        threads: thread counts to measure.
        runs: timed invocations per thread count (>= 1).
        warmup: untimed invocations first.
        seed: seed of the random input.

    Returns:
        A list of dicts: threads, runs, mean_ms, p50_ms, p90_ms, min_ms.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}.")
    rows = []
    for num_threads in threads:
        interpreter = load_interpreter(model_path, num_threads=num_threads)
        detail = interpreter.get_input_details()[0]
        dtype = np.dtype(detail["dtype"])
        rng = np.random.default_rng(seed)
        if dtype == np.float32:
            x = rng.uniform(0, 255, detail["shape"]).astype(np.float32)
        else:
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(dtype)
        interpreter.set_tensor(detail["index"], x)
        for _ in range(warmup):
            interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interpreter.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        times = np.asarray(times)
        rows.append({
            "threads": int(num_threads), "runs": int(runs), "mean_ms": float(times.mean()),
            "p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "min_ms": float(times.min()),
        })
    return rows


def format_table(rows, title=None):
    """Renders benchmark rows as an aligned plain-text table."""
    header = ["threads", "runs", "mean ms", "p50 ms", "p90 ms", "min ms"]
    cells = [header] + [
        [str(r["threads"]), str(r["runs"])] + [f"{r[k]:.2f}" for k in ("mean_ms", "p50_ms", "p90_ms", "min_ms")]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(([title] if title else []) + lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tflite.benchmark", description=__doc__.strip().splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per thread count (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    args = parser.parse_args(argv)
    try:
        rows = benchmark(args.model, threads=args.threads, runs=args.runs, warmup=args.warmup)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    interpreter = load_interpreter(args.model)
    detail = interpreter.get_input_details()[0]
    title = (f"{os.path.basename(args.model)}: input {[int(v) for v in detail['shape']]} {np.dtype(detail['dtype']).name}, "
             "LiteRT CPU")
    print(format_table(rows, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
