"""Command line: `kerasseg train | evaluate | predict | export | models | datasets (list | stats | tfrecord)`."""
import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _recipe_for(model_path, config_path):
    """The recipe given on the command line, else the `config.yaml` the trainer wrote beside the model."""
    from kerasseg.training import load_config

    if config_path:
        return load_config(config_path)
    beside = pathlib.Path(model_path).parent / "config.yaml"
    return load_config(beside) if beside.is_file() else None


def _fixed_size_arrays(dataset, count, size):
    """Up to `count` (image, label) numpy pairs from an unbatched dataset, resized to `size` = (H, W)."""
    import numpy as np
    import tensorflow as tf

    def resize(image, label):
        image = tf.image.resize(image, size, method="bilinear")
        label = tf.image.resize(label[..., None], size, method="nearest")[..., 0]
        return image, label

    pairs = list(dataset.take(count).map(resize).as_numpy_iterator())
    if not pairs:
        raise ValueError("The dataset is empty: no images for calibration or parity.")
    return np.stack([p[0] for p in pairs]).astype(np.float32), np.stack([p[1] for p in pairs]).astype(np.int32)


def cmd_train(args):
    import shlex

    import yaml

    from kerasseg.training import fit, load_config

    config = load_config(args.config, overrides=args.set)
    if args.dry_run:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    command = ["kerasseg", "train", "--config", args.config] + [f"--set={item}" for item in args.set]
    result = fit(config, restart=args.restart, resume_command=shlex.join(command))
    print(f"saved: {result.best_model_path}")
    return 0


def _inference_options(args):
    """The `kerasseg.inference.predict` keyword arguments of --tile / --tile-overlap / --blend / --scales / --flip."""
    return {"tile_size": args.tile, "tile_overlap": args.tile_overlap, "blend": args.blend,
            "scales": tuple(args.scales), "flip": args.flip}


def cmd_evaluate(args):
    import kerasseg
    from kerasseg import data as kdata
    from kerasseg.registry import size_divisor
    from kerasseg.training import build_datasets, evaluate_model, format_iou_table

    config = _recipe_for(args.model, args.config)
    if config is None:
        raise SystemExit(f"kerasseg evaluate: no --config given and no config.yaml beside {args.model}.")
    model = kerasseg.load_model(args.model, compile=False)
    splits = build_datasets(config)
    options = _inference_options(args)
    if options["tile_size"] is None and options["scales"] == (1.0,) and not options["flip"]:
        dataset = kdata.eval_pipeline(getattr(splits, args.split), batch_size=args.batch_size,
                                      pad_to_multiple=size_divisor(model))
        metric = evaluate_model(model, dataset, splits.num_classes)
        per_class, miou = metric.per_class_iou(), float(metric.result())
    else:
        import numpy as np

        from kerasseg.inference import as_predictor, predict
        from kerasseg.litert.run import confusion_matrix

        predictor = as_predictor(model)
        confusion = np.zeros((splits.num_classes, splits.num_classes), np.int64)
        for image, label in getattr(splits, args.split).as_numpy_iterator():  # original label resolution
            try:
                logits = predict(predictor, image, batch_size=args.batch_size, **options)
            except ValueError as e:
                raise SystemExit(f"kerasseg evaluate: {e}") from None
            confusion += confusion_matrix(logits.argmax(-1), label.reshape(label.shape[:2]), splits.num_classes)
        union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(union > 0, np.diag(confusion) / np.maximum(union, 1), np.nan)
        miou = float(np.nanmean(per_class))
        print(f"tile {options['tile_size']}, scales {list(options['scales'])}, flip {options['flip']}")
    print(f"{args.model} on the {args.split} split:")
    print(format_iou_table(splits.class_names, per_class, miou))
    return 0


def _expand_images(patterns):
    """Image files from files, folders and glob patterns, in order; a pattern or path matching nothing is an error."""
    import glob

    from kerasseg.litert.run import IMAGE_EXTENSIONS, list_images

    files = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if p.lower().endswith(IMAGE_EXTENSIONS))
            if not matches:
                raise SystemExit(f"kerasseg predict: no images match {pattern!r}")
            files.extend(matches)
        else:
            try:
                files.extend(list_images([pattern]))
            except FileNotFoundError as e:
                raise SystemExit(f"kerasseg predict: {e}") from None
    return files


def cmd_predict(args):
    import keras
    import numpy as np
    from PIL import Image

    from kerasseg import viz
    from kerasseg.inference import load_predictor, predict
    from kerasseg.litert.run import read_rgb

    files = _expand_images(args.images)
    try:
        predictor = load_predictor(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"kerasseg predict: {e}") from None
    palette = predictor.palette  # a kerasseg Keras model carries its classes' colours
    config = None
    if os.path.exists(args.model) or args.config:  # shipped weights by name have no folder to look beside
        config_dir = args.model if os.path.isdir(args.model) else os.path.dirname(args.model)
        config = _recipe_for(os.path.join(config_dir, "model"), args.config)
    if config is not None:
        from kerasseg.training import build_datasets

        palette = build_datasets(config).palette
    os.makedirs(args.out, exist_ok=True)
    progress = keras.utils.Progbar(len(files), unit_name="image")
    for i, path in enumerate(files):
        try:
            image = read_rgb(path)
        except ValueError as e:
            raise SystemExit(f"kerasseg predict: {e}") from None
        try:
            logits = predict(predictor, image, batch_size=args.batch_size, **_inference_options(args))
        except ValueError as e:
            raise SystemExit(f"kerasseg predict: {path}: {e}") from None
        if logits.shape[-1] > 256:
            raise SystemExit(f"kerasseg predict: {args.model} has {logits.shape[-1]} classes; a PNG mask holds 256.")
        if palette is None or len(palette) < logits.shape[-1]:
            palette = viz.default_palette(logits.shape[-1])
        mask = logits.argmax(-1).astype(np.uint8)
        stem = os.path.splitext(os.path.basename(path))[0]
        png = Image.fromarray(mask, mode="P")
        png.putpalette(np.asarray(palette, np.uint8)[:, :3].ravel().tolist())
        png.save(os.path.join(args.out, f"{stem}_mask.png"))
        Image.fromarray(viz.overlay(image, mask, palette, alpha=args.alpha)).save(
            os.path.join(args.out, f"{stem}_overlay.png"))
        progress.update(i + 1)
    print(f"{len(files)} image(s): masks (<name>_mask.png, class indices with a palette) and overlays in {args.out}")
    return 0


def cmd_export(args):
    import time

    import kerasseg
    from kerasseg import export as kexport
    from kerasseg.training import build_datasets

    start = time.perf_counter()
    model = kerasseg.load_model(args.model, compile=False)
    config = _recipe_for(args.model, args.config)
    input_size = args.input_size or (config and config["export"]["input_size"])
    if not input_size:
        raise SystemExit("kerasseg export: give --input-size H W (TFLite needs a fixed size), or a --config.")
    formats = args.formats or (config["export"]["formats"] if config else list(kexport.FORMATS))
    int8_io = args.int8_io or (config["export"]["int8_io"] if config else "uint8")
    representative = parity_images = parity_labels = class_names = None
    if config is not None:
        splits = build_datasets(config)
        class_names = splits.class_names
        representative, _ = _fixed_size_arrays(splits.train, config["export"]["calibration_samples"], input_size)
        parity_images, parity_labels = _fixed_size_arrays(splits.val, config["export"]["parity_samples"],
                                                          input_size)
    elif "tflite-int8" in formats:
        raise SystemExit("kerasseg export: tflite-int8 needs calibration images from the training data: give "
                         "--config (or keep the config.yaml the trainer wrote beside the model).")
    result = kexport.export_model(
        model, args.out, formats=formats, input_size=tuple(input_size), representative_images=representative,
        parity_images=parity_images, parity_labels=parity_labels, int8_io=int8_io, class_names=class_names,
        max_size=args.max_size,
    )
    for fmt, path in result["artifacts"].items():
        print(f"{fmt:<12} {path}  ({result['seconds'][fmt]:.1f} s)")
    print(f"{len(result['artifacts'])} format(s) written in {result['seconds']['formats']:.1f} s")
    for note in result["notes"]:
        print(f"note: {note}")
    failed = []
    if result["parity"]:
        print(kexport.format_parity_table(result["parity"]))
        failed += [row["format"] for row in result["parity"] if not row["passed"]]
    if result["clients"]:
        print("client checks:")
        print(kexport.format_client_lines(result["clients"]))
        failed += [f"{row['artifact']} ({row['client']}: {row['check']})" for row in result["clients"]
                   if not row["passed"]]
    print(f"export took {time.perf_counter() - start:.1f} s")
    if failed:
        print(f"checks FAILED for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_models(args):
    import kerasseg

    for name in kerasseg.list_models():
        spec = kerasseg.get_model_spec(name)
        print(f"{name:<16} input multiple of {spec.size_divisor:<3} {spec.paper}")
    return 0


def _dataset_split(args):
    """(dataset, class_names, skipped log) named by `--dataset/--root` or by `--config`, for `args.split`."""
    from kerasseg import data as kdata

    skipped = kdata.SkippedSamples() if args.on_error == "skip" else None
    if args.config:
        from kerasseg.training import build_datasets, load_config

        args.split = args.split or "train"
        if args.split not in ("train", "val"):
            raise SystemExit(f"kerasseg datasets: with --config, --split is 'train' or 'val', not {args.split!r}.")
        config = load_config(args.config)
        config["data"]["on_error"] = args.on_error
        splits = build_datasets(config)
        return getattr(splits, args.split), splits.class_names, splits.skipped, splits.num_classes
    if not (args.dataset and args.root):
        raise SystemExit("kerasseg datasets: give --dataset NAME --root DIR, or --config RECIPE.")
    info = kdata.dataset_info(args.dataset)
    dataset = info.reader(args.root, args.split or info.train_split, on_error=args.on_error, skipped=skipped,
                          **({"with_file_names": True} if getattr(args, "with_names", False) else {}))
    return dataset, list(info.class_names), skipped, info.num_classes


def cmd_datasets_list(args):
    from kerasseg import data as kdata

    for name, info in kdata.DATASETS.items():
        print(f"{name:<11} {info.num_classes:>3} classes  splits: {', '.join(info.splits)}")
    return 0


def cmd_datasets_stats(args):
    import json

    from kerasseg import data as kdata

    dataset, class_names, skipped, num_classes = _dataset_split(args)
    stats = kdata.pixel_statistics(dataset, num_classes)
    print(stats.table(class_names))
    name = args.dataset or pathlib.Path(args.config).stem
    out = pathlib.Path(args.json or f"{name}_{args.split or 'train'}_stats.json")
    summary = {"dataset": name, "split": args.split or "train", **stats.to_dict(class_names)}
    if skipped is not None:
        summary["skipped"] = skipped.problems
        print(skipped.report())
    out.write_text(json.dumps(summary, indent=2))
    print(f"statistics written to {out}")
    return 0


def cmd_datasets_tfrecord(args):
    from kerasseg import data as kdata

    args.with_names = not args.config
    dataset, _, skipped, _ = _dataset_split(args)
    paths, count = kdata.write_tfrecords(dataset, args.out, num_shards=args.shards, image_format=args.image_format)
    print(f"{count} samples written to {len(paths)} shard(s): {paths[0]}{' ...' if len(paths) > 1 else ''}")
    if skipped is not None:
        print(skipped.report())
    return 0


def _add_inference_arguments(parser):
    def tile(value):
        return "model" if value == "model" else int(value)

    parser.add_argument("--tile", type=tile, metavar="PIXELS",
                        help="sliding window of PIXELSxPIXELS tiles ('model': a .tflite file's own size)")
    parser.add_argument("--tile-overlap", type=int, metavar="PIXELS", help="tile overlap (default: tile / 4)")
    parser.add_argument("--blend", choices=("gaussian", "uniform"), default="gaussian",
                        help="weighting of overlapping tiles (default gaussian)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0],
                        help="test-time scales whose logits are averaged, e.g. 0.5 0.75 1.0 1.25 1.5 1.75")
    parser.add_argument("--flip", action="store_true", help="also average the horizontally flipped prediction")


def build_parser():
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    parser = argparse.ArgumentParser(prog="kerasseg", description=__doc__, parents=[debug])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a YAML recipe", parents=[debug])
    train.add_argument("--config", required=True, help="YAML recipe, e.g. configs/enet_shapes_64x64.yaml")
    train.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a recipe key (value read as YAML), e.g. --set data.root=/data/camvid "
                            "--set train.learning_rate=1e-3; repeatable")
    train.add_argument("--dry-run", action="store_true", help="print the resolved recipe and exit")
    train.add_argument("--restart", action="store_true",
                       help="discard the unfinished or finished run in output_dir and train from scratch "
                            "(default: resume it)")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="per-class IoU of a .keras model on a split", parents=[debug])
    evaluate.add_argument("model", help="a .keras file")
    evaluate.add_argument("--config", help="recipe naming the dataset (default: config.yaml beside the model)")
    evaluate.add_argument("--split", choices=("train", "val"), default="val")
    evaluate.add_argument("--batch-size", type=int, default=8, help="images (or tiles) per model call")
    _add_inference_arguments(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="class masks (palette PNG) and overlays for images, any model format",
                             parents=[debug])
    predict.add_argument("model", help="a .keras file, a SavedModel version folder, a .tflite or an .onnx file, "
                                       "or shipped pretrained weights by name (enet_camvid)")
    predict.add_argument("images", nargs="+", help="image files, folders and/or glob patterns ('data/*.jpg')")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--config", help="recipe for the class colours (default: config.yaml beside the model)")
    predict.add_argument("--batch-size", type=int, default=4, help="tiles per model call (default 4)")
    predict.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the mask (default 0.5)")
    _add_inference_arguments(predict)
    predict.set_defaults(func=cmd_predict)

    export = sub.add_parser("export", help="export a .keras model to SavedModel, TFLite and ONNX with parity",
                            parents=[debug])
    export.add_argument("model", help="a .keras file")
    export.add_argument("--out", required=True, help="output folder")
    from kerasseg.export.formats import FORMATS

    export.add_argument("--formats", nargs="+", choices=FORMATS, metavar="FORMAT",
                        help=f"any of: {' '.join(FORMATS)} (default: the recipe's export.formats)")
    export.add_argument("--config", help="recipe for calibration/parity data (default: config.yaml beside "
                                         "the model)")
    export.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                        help="fixed TFLite/ONNX input size (default: the recipe's export.input_size)")
    export.add_argument("--int8-io", choices=("uint8", "int8"),
                        help="int8 model I/O: uint8 = uint8 input, float32 output (default; what MediaPipe loads); "
                             "int8 = int8 input and output")
    export.add_argument("--max-size", type=int, metavar="PIXELS",
                        help="SavedModel signatures: resize images whose long side exceeds PIXELS (mask resized back)")
    export.set_defaults(func=cmd_export)

    models = sub.add_parser("models", help="list the registered models", parents=[debug])
    models.set_defaults(func=cmd_models)

    datasets = sub.add_parser("datasets", help="dataset tools: list, pixel statistics / class weights, TFRecord",
                              parents=[debug])
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    listing = datasets_sub.add_parser("list", help="the named datasets, their classes and splits", parents=[debug])
    listing.set_defaults(func=cmd_datasets_list)
    for command, help_text in (("stats", "class pixel frequencies, ENet and median-frequency weights (+ JSON)"),
                               ("tfrecord", "write a split to TFRecord shards")):
        parser_ = datasets_sub.add_parser(command, help=help_text, parents=[debug])
        parser_.add_argument("--dataset", help="a named dataset, see `kerasseg datasets list` (with --root)")
        parser_.add_argument("--root", help="the dataset's folder")
        parser_.add_argument("--config", help="or: a recipe whose data section names the dataset")
        parser_.add_argument("--split", help="split name (default: the training split)")
        parser_.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                             help="stop at the first bad sample (default) or skip bad samples and list them")
        if command == "stats":
            parser_.add_argument("--json", help="output JSON path (default: DATASET_SPLIT_stats.json)")
            parser_.set_defaults(func=cmd_datasets_stats)
        else:
            parser_.add_argument("--out", required=True, help="shard path prefix, e.g. data/camvid-train")
            parser_.add_argument("--shards", type=int, default=4)
            parser_.add_argument("--image-format", choices=("png", "jpeg"), default="png")
            parser_.set_defaults(func=cmd_datasets_tfrecord)
    return parser


def main(argv=None):
    """Runs a command; errors reach the user as one line `kerasseg <command>: error: ...` (--debug: traceback).

    Returns:
        The exit status: 0, 1 for an error, 130 / 143 when training stopped on SIGINT / SIGTERM.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:  # noqa: BLE001 -- every error is reported, as one line unless --debug
        if getattr(args, "debug", False):
            raise
        from kerasseg.training.resume import TrainingStopped

        message = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, (OSError, KeyError)) and not isinstance(err, ValueError):
            message = f"{type(err).__name__}: {message}"
        print(f"kerasseg {args.command}: error: {message}"
              f"{'' if isinstance(err, TrainingStopped) else ' (--debug shows the traceback)'}", file=sys.stderr)
        return err.exit_code if isinstance(err, TrainingStopped) else 1
    except KeyboardInterrupt:
        print(f"kerasseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
