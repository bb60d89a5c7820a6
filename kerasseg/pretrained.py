"""Pretrained weights that ship with kerasseg, with what they were trained on and what they score.

    model = kerasseg.build_model("enet", weights="camvid")      # or kerasseg.pretrained.load_pretrained("enet_camvid")
    kerasseg.pretrained.list_pretrained()                       # ['enet_camvid']
    entry = kerasseg.pretrained.get_pretrained("enet_camvid")   # classes, palette, input size, recipe, metrics

Each entry's files live in `kerasseg/weights/`: `<name>.weights.h5` (the model's variables, Keras
`save_weights` format) and `<name>.json` (the measurements: val mIoU of the float model and of its fp16 / int8
TFLite files through LiteRT, per-class IoU, training time and hardware, latency and size of the int8 file, and a
check value on the first validation frames). The model card `docs/pretrained/<name>.md` is rendered from that
JSON by the release step, so the two cannot disagree:

    python -m kerasseg.pretrained release enet_camvid --checkpoint runs/enet_camvid_360x480/best.keras \\
        --root $KERASSEG_CAMVID_ROOT
"""
import argparse
import dataclasses
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from kerasseg.errors import UnknownNameError, check_name

WEIGHTS_DIR = pathlib.Path(__file__).parent / "weights"
CARDS_DIR = pathlib.Path(__file__).resolve().parent.parent / "docs" / "pretrained"
CHECK_FRAMES = 8  # validation frames of the quick check (`check_mean_iou` in the JSON)


@dataclasses.dataclass(frozen=True)
class PretrainedEntry:
    """A set of pretrained weights.

    Attributes:
        name: its name, `<model>_<weights>` (e.g. "enet_camvid").
        model: the registry name of the architecture.
        weights: the short name `build_model(model, weights=...)` takes (e.g. "camvid").
        dataset: the named dataset it was trained on (`kerasseg.data.DATASETS`).
        recipe: the recipe that trained it, relative to the repository root.
        input_size: (height, width) it was trained and evaluated at.
        paper: the paper the architecture and the reference number come from.
        paper_mean_iou: the class-average IoU the paper reports (on the dataset's test split).
    """

    name: str
    model: str
    weights: str
    dataset: str
    recipe: str
    input_size: tuple
    paper: str
    paper_mean_iou: float

    @property
    def weights_path(self):
        return WEIGHTS_DIR / f"{self.name}.weights.h5"

    @property
    def metrics_path(self):
        return WEIGHTS_DIR / f"{self.name}.json"

    @property
    def card_path(self):
        return CARDS_DIR / f"{self.name}.md"

    @property
    def class_names(self):
        from kerasseg.data.catalog import dataset_info

        return list(dataset_info(self.dataset).class_names)

    @property
    def palette(self):
        from kerasseg.data.catalog import dataset_info

        return np.asarray(dataset_info(self.dataset).palette, np.uint8)

    @property
    def num_classes(self):
        return len(self.class_names)

    def metrics(self):
        """The measurements recorded at release (the JSON beside the weights)."""
        if not self.metrics_path.is_file():
            raise FileNotFoundError(f"pretrained {self.name!r} has no release record {self.metrics_path}: "
                                    "its weights have not been released in this version of kerasseg.")
        return json.loads(self.metrics_path.read_text())


PRETRAINED = {
    entry.name: entry
    for entry in (
        PretrainedEntry(name="enet_camvid", model="enet", weights="camvid", dataset="camvid",
                        recipe="configs/enet_camvid_360x480.yaml", input_size=(360, 480),
                        paper="Paszke et al., ENet, arXiv 1606.02147 (Table 3)", paper_mean_iou=0.513),
    )
}


def list_pretrained():
    """The names of the pretrained entries, sorted."""
    return sorted(PRETRAINED)


def get_pretrained(name):
    """The `PretrainedEntry` called `name` ("enet_camvid"); `UnknownNameError` for another name."""
    return PRETRAINED[check_name("pretrained weights", name, list_pretrained())]


def find_pretrained(model, weights):
    """The entry for `build_model(model, weights=weights)`, e.g. ("enet", "camvid").

    Raises:
        UnknownNameError: "unknown weights for enet 'kitti'; valid: camvid, or the path of a .weights.h5 file".
    """
    for entry in PRETRAINED.values():
        if entry.model == model and entry.weights == weights:
            return entry
    valid = sorted(e.weights for e in PRETRAINED.values() if e.model == model)
    raise UnknownNameError(f"weights for {model}", weights, valid + ["or the path of a .weights.h5 file"])


def load_pretrained(name, input_shape=(None, None, 3)):
    """Builds the entry's model and loads its shipped weights.

    Args:
        name: an entry of `list_pretrained()`.
        input_shape: (height, width, 3) of the model's input; None for any size (a multiple of the model's
            divisor).

    Returns:
        A `SegmentationModel` (float32 RGB [B, H, W, 3] in [0, 255] -> logits [B, H, W, num_classes]) that
        carries the entry's class names and palette.
    """
    from kerasseg.registry import build_model

    entry = get_pretrained(name)
    if not entry.weights_path.is_file():
        raise FileNotFoundError(f"pretrained {name!r}: weights file {entry.weights_path} is missing; its weights "
                                "have not been released in this version of kerasseg.")
    model = build_model(entry.model, entry.num_classes, input_shape=input_shape)
    model.load_weights(str(entry.weights_path))
    model.set_classes(entry.class_names, entry.palette)
    return model


# --- release: evaluate a trained checkpoint, write the weights, the JSON record and the model card -------------

def _evaluate_keras(model, dataset, num_classes, limit=None):
    from kerasseg.training.fit import evaluate_model

    from kerasseg import data as kdata

    if limit:
        dataset = dataset.take(limit)
    metric = evaluate_model(model, kdata.eval_pipeline(dataset, batch_size=4), num_classes)
    return float(metric.result()), metric.per_class_iou()


def evaluate_tflite(path, dataset, num_classes, num_threads=None):
    """Mean IoU of a `.tflite` file over an unbatched (image, label) dataset, through the LiteRT interpreter.

    Args:
        path: the `.tflite` file; images must have its input size.
        dataset: `tf.data.Dataset` of (image float32 [H, W, 3] in [0, 255], label int32 [H, W]).
        num_classes: number of classes.
        num_threads: interpreter threads.

    Returns:
        (mean IoU, per-class IoU array, number of images).
    """
    from kerasseg.litert.runtime import make_interpreter, run_interpreter
    from kerasseg.metrics import MeanIoU

    interpreter = make_interpreter(path, num_threads=num_threads)
    metric = MeanIoU(num_classes, from_logits=False)
    count = 0
    for image, label in dataset.as_numpy_iterator():
        logits = run_interpreter(interpreter, image)
        metric.update_state(label[None], np.argmax(logits, -1))
        count += 1
    return float(metric.result()), metric.per_class_iou(), count


def _latency(paths, threads):
    """{tflite path: ({threads: median ms}, XNNPACK partitions)}, the files timed interleaved
    (`kerasseg.litert.benchmark`)."""
    from kerasseg.litert.benchmark import benchmark

    rows = benchmark([str(p) for p in paths], threads=threads, runs=20)
    latency = {}
    for path in paths:
        mine = [row for row in rows if row["path"] == str(path)]
        latency[str(path)] = ({str(row["threads"]): row["p50_ms"] for row in mine}, mine[0]["partitions"])
    return latency


def _run_record(run_dir):
    """Epochs (done and scheduled), wall-clock and best epoch of a `kerasseg train` run folder."""
    from kerasseg.training.resume import BACKUP_DIR, METADATA_FILE

    run_dir = pathlib.Path(run_dir)
    record = {}
    meta = run_dir / BACKUP_DIR / METADATA_FILE
    if meta.is_file():
        state = json.loads(meta.read_text())
        record.update(epochs_completed=state["epoch"], training_seconds=round(state.get("seconds", 0.0)))
        if "epochs" in state:
            record.update(epochs_scheduled=state["epochs"], finished=bool(state.get("finished", False)))
    history = run_dir / "history.csv"
    if history.is_file():
        import csv

        rows = list(csv.DictReader(history.open()))
        if rows and "val_mean_iou" in rows[0]:
            best = max(rows, key=lambda r: float(r["val_mean_iou"]))
            record.update(best_epoch=int(best["epoch"]) + 1, history_rows=len(rows))
    return record


def _training_record(checkpoint):
    """The training record of a `kerasseg train` checkpoint: its run folder's (`_run_record`), and under
    `initial_weights` that of the run it started from (the recipe's `model.initial_weights`, e.g. ENet's encoder
    stage), whose wall-clock `total_training_seconds` adds."""
    import yaml

    run_dir = pathlib.Path(checkpoint).parent
    record = _run_record(run_dir)
    config = run_dir / "config.yaml"
    initial = None
    if config.is_file():
        initial = (yaml.safe_load(config.read_text()) or {}).get("model", {}).get("initial_weights")
    if initial and pathlib.Path(initial).parent.is_dir():
        record["initial_weights"] = dict(checkpoint=str(initial), **_run_record(pathlib.Path(initial).parent))
    record["total_training_seconds"] = record.get("training_seconds", 0) + record.get(
        "initial_weights", {}).get("training_seconds", 0)
    return record


def release(name, checkpoint, root, calibration_frames=64, threads=(1, 2)):
    """Writes an entry's weights, JSON record and model card from a trained checkpoint.

    The float model is evaluated on the whole validation split; its fp32, fp16 and int8 (uint8 input, float32
    output, calibrated on `calibration_frames` training frames) TFLite files are evaluated on the same split
    through LiteRT.

    Args:
        name: the entry (`list_pretrained()`).
        checkpoint: the trained `.keras` file (its run folder's history and resumable state give the training
            time).
        root: the dataset's root folder.
        calibration_frames: training frames for int8 calibration.
        threads: thread counts of the latency measurement.

    Returns:
        The JSON record (a dict).
    """
    import tempfile

    import keras

    from kerasseg import data as kdata
    from kerasseg.export.tflite import export_tflite
    from kerasseg.registry import build_model

    entry = get_pretrained(name)
    trained = keras.saving.load_model(str(checkpoint), compile=False)
    model = build_model(entry.model, entry.num_classes, input_shape=(None, None, 3))
    model.set_weights(trained.get_weights())
    info = kdata.dataset_info(entry.dataset)
    val = info.reader(root, info.val_split)
    train = info.reader(root, info.train_split)

    mean_iou, per_class = _evaluate_keras(model, val, entry.num_classes)
    check_iou, _ = _evaluate_keras(model, val, entry.num_classes, limit=CHECK_FRAMES)
    record = {
        "name": name, "model": entry.model, "dataset": entry.dataset, "recipe": entry.recipe,
        "input_size": list(entry.input_size), "class_names": entry.class_names,
        "paper": entry.paper, "paper_test_mean_iou": entry.paper_mean_iou,
        "val_images": int(val.reduce(0, lambda n, _: n + 1).numpy()),
        "float": {"val_mean_iou": mean_iou, "per_class_iou": [None if np.isnan(v) else float(v) for v in per_class]},
        "check_frames": CHECK_FRAMES, "check_mean_iou": check_iou,
        "training": _training_record(checkpoint),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores ({platform.processor() or 'unknown CPU'})",
    }
    calibration = [image for image, _ in train.take(calibration_frames).as_numpy_iterator()]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {q: os.path.join(tmp, f"{name}_{q}.tflite") for q in ("fp32", "fp16", "int8")}
        for quantization, path in paths.items():
            export_tflite(model, path, quantization=quantization, input_size=entry.input_size,
                          representative_images=calibration if quantization == "int8" else None)
        latency = _latency(list(paths.values()), threads)
        for quantization, path in paths.items():
            row = {"file_bytes": os.path.getsize(path), "latency_ms_by_threads": latency[path][0],
                   "xnnpack": latency[path][1]}
            q_iou, q_per_class, _ = evaluate_tflite(path, val, entry.num_classes)
            row.update(val_mean_iou=q_iou, delta_points=100 * (q_iou - mean_iou),
                       per_class_iou=[None if np.isnan(v) else float(v) for v in q_per_class])
            record[f"tflite_{quantization}"] = row
        record["tflite_int8"]["calibration_frames"] = len(calibration)

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(entry.weights_path))
    entry.metrics_path.write_text(json.dumps(record, indent=2) + "\n")
    entry.card_path.parent.mkdir(parents=True, exist_ok=True)
    entry.card_path.write_text(render_card(entry, record))
    return record


def _iou(value):
    return "n/a" if value is None else f"{100 * value:.1f}"


def _epochs(training):
    """"67 of 300 (interim: the schedule is not finished)", "100 of 100" or "2" (no schedule recorded)."""
    done = training.get("epochs_completed", "n/a")
    if "epochs_scheduled" not in training:
        return str(done)
    interim = "" if training.get("finished") else " (interim weights: the schedule is not finished)"
    return f"{done} of {training['epochs_scheduled']}{interim}"


def render_card(entry, record):
    """The model card (Markdown) of an entry from its JSON record."""
    training = record.get("training", {})
    hours = training.get("total_training_seconds", training.get("training_seconds", 0)) / 3600
    int8, fp16, fp32 = record["tflite_int8"], record["tflite_fp16"], record["tflite_fp32"]
    lines = [
        f"# Model card: `{entry.name}`",
        "",
        f"{entry.paper}; weights trained by kerasseg with `{entry.recipe}` and shipped in "
        f"`kerasseg/weights/{entry.name}.weights.h5`. Generated by `python -m kerasseg.pretrained release` from "
        f"`kerasseg/weights/{entry.name}.json`; do not edit by hand.",
        "",
        "```python",
        f'model = kerasseg.build_model("{entry.model}", weights="{entry.weights}")   # logits [B, H, W, '
        f'{entry.num_classes}]',
        "```",
        "",
        "## Training",
        "",
        f"- Data: {entry.dataset} training split, {entry.num_classes} classes "
        f"({', '.join(entry.class_names)}); void ignored. Input {entry.input_size[0]}x{entry.input_size[1]}.",
        f"- Recipe: `{entry.recipe}` (the settings and where each comes from are in the file).",
        f"- Epochs completed: {_epochs(training)}; best validation epoch: {training.get('best_epoch', 'n/a')}.",
    ]
    stage = training.get("initial_weights")
    if stage:
        lines.append(f"- Started from `{stage['checkpoint']}` (a run of {_epochs(stage)}, "
                     f"{stage.get('training_seconds', 0) / 3600:.1f} h).")
    lines += [
        f"- Wall-clock: {hours:.1f} h of training in all on {record['hardware']}.",
        "",
        "## Scores",
        "",
        f"Class-average IoU on the {record['val_images']} validation images at full resolution (the paper reports "
        f"{100 * entry.paper_mean_iou:.1f} on the test split, which is not in this repository):",
        "",
        "| model | val mIoU | vs float | file size | latency 1 thread | latency 2 threads | XNNPACK partitions |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| Keras float32 | {_iou(record['float']['val_mean_iou'])} | | | | | |",
    ]
    for label, row in (("TFLite fp32", fp32), ("TFLite fp16", fp16), ("TFLite int8 (uint8 in, float32 out)", int8)):
        latency = row["latency_ms_by_threads"]
        lines.append(f"| {label} | {_iou(row['val_mean_iou'])} | {row['delta_points']:+.2f} | "
                     f"{row['file_bytes'] / 1e6:.2f} MB | {latency.get('1', float('nan')):.1f} ms | "
                     f"{latency.get('2', float('nan')):.1f} ms | {row['xnnpack']['partitions']} |")
    lines += ["", "Per class (IoU %):", "", "| class | float | fp16 | int8 |", "|---|---:|---:|---:|"]
    for i, class_name in enumerate(entry.class_names):
        lines.append(f"| {class_name} | {_iou(record['float']['per_class_iou'][i])} | "
                     f"{_iou(fp16['per_class_iou'][i])} | {_iou(int8['per_class_iou'][i])} |")
    lines += [
        "",
        f"Quick check (the test suite re-measures it): float mIoU on the first {record['check_frames']} validation "
        f"frames = {record['check_mean_iou']:.4f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasseg.pretrained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the pretrained entries")
    rel = sub.add_parser("release", help="write an entry's weights, JSON record and model card from a checkpoint")
    rel.add_argument("name", choices=list_pretrained())
    rel.add_argument("--checkpoint", required=True, help="the trained .keras file")
    rel.add_argument("--root", required=True, help="the dataset's root folder")
    rel.add_argument("--calibration-frames", type=int, default=64)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in list_pretrained():
            entry = get_pretrained(name)
            shipped = "shipped" if entry.weights_path.is_file() else "not released"
            print(f"{name:<16} {entry.model:<8} {entry.dataset:<10} {shipped}")
        return 0
    if not pathlib.Path(args.checkpoint).is_file():
        raise SystemExit(f"python -m kerasseg.pretrained release: checkpoint not found: {args.checkpoint}")
    record = release(args.name, args.checkpoint, args.root, calibration_frames=args.calibration_frames)
    print(render_card(get_pretrained(args.name), record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
