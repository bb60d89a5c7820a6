"""Wall time of exporting the main job's model to every format, compared between two checkouts.

    python -m benchmarks.export_time --baseline /path/to/other/checkout [--rounds 2]

Builds the main job's ENet (configs/enet_shapes_64x64.yaml: 6 classes, 64x64 export size, 64 calibration images)
with fixed weights in a fresh process per measurement, and times `export_model` on every format, without parity
or client checks (those compare, they do not export). The two checkouts run interleaved (this one, the
baseline, this one, ...) so that both see the same machine load; the table prints per-format seconds of each
run and the ratio of the totals.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]

MEASURE = r"""
import inspect, json, os, sys, tempfile, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras, kerasseg
import kerasseg.export
from kerasseg.export import export_model
kerasseg.export.check_parity = lambda *args, **kwargs: []  # time the exports, not the comparisons
keras.utils.set_random_seed(0)
model = kerasseg.build_model("enet", 6, input_shape=(None, None, 3))
images = list(np.random.default_rng(0).uniform(0, 255, (64, 64, 64, 3)).astype(np.float32))
kwargs = {}
if "client_checks" in inspect.signature(export_model).parameters:
    kwargs["client_checks"] = False
start = time.perf_counter()
result = export_model(model, tempfile.mkdtemp(), input_size=(64, 64), representative_images=images, **kwargs)
total = time.perf_counter() - start
print(json.dumps({"seconds": result["seconds"], "total": total}))
"""


def measure(checkout):
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run([sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if proc.returncode:
        raise SystemExit(f"export failed in {checkout}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another kerasseg checkout (e.g. main)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    runs = {"this": [], "baseline": []}
    for _ in range(args.rounds):
        runs["this"].append(measure(REPO))
        runs["baseline"].append(measure(args.baseline))
    formats = list(runs["this"][0]["seconds"])
    print("checkout  round  " + "  ".join(f"{f:>11}" for f in formats) + "      total")
    for name, results in runs.items():
        for i, r in enumerate(results):
            print(f"{name:<8}  {i:>5}  " + "  ".join(f"{r['seconds'].get(f, float('nan')):>11.1f}" for f in formats)
                  + f"  {r['total']:>9.1f}")
    mean = {name: sum(r["total"] for r in results) / len(results) for name, results in runs.items()}
    print(f"total export time this / baseline: {mean['this'] / mean['baseline']:.2f} "
          f"({mean['this']:.1f} s vs {mean['baseline']:.1f} s, mean of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
