"""Command line: `kerasseg train | evaluate | export | models`."""
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
    from kerasseg.training import fit

    result = fit(args.config)
    print(f"saved: {result.best_model_path}")
    return 0


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
    dataset = kdata.eval_pipeline(getattr(splits, args.split), batch_size=args.batch_size,
                                  pad_to_multiple=size_divisor(model))
    metric = evaluate_model(model, dataset, splits.num_classes)
    print(f"{args.model} on the {args.split} split:")
    print(format_iou_table(splits.class_names, metric.per_class_iou(), float(metric.result())))
    return 0


def cmd_export(args):
    import kerasseg
    from kerasseg import export as kexport
    from kerasseg.training import build_datasets

    model = kerasseg.load_model(args.model, compile=False)
    config = _recipe_for(args.model, args.config)
    input_size = args.input_size or (config and config["export"]["input_size"])
    if not input_size:
        raise SystemExit("kerasseg export: give --input-size H W (TFLite needs a fixed size), or a --config.")
    formats = args.formats or (config["export"]["formats"] if config else list(kexport.FORMATS))
    representative = parity_images = parity_labels = None
    if config is not None:
        splits = build_datasets(config)
        representative, _ = _fixed_size_arrays(splits.train, config["export"]["calibration_samples"], input_size)
        parity_images, parity_labels = _fixed_size_arrays(splits.val, config["export"]["parity_samples"],
                                                          input_size)
    elif "tflite-int8" in formats:
        raise SystemExit("kerasseg export: tflite-int8 needs calibration images from the training data: give "
                         "--config (or keep the config.yaml the trainer wrote beside the model).")
    result = kexport.export_model(
        model, args.out, formats=formats, input_size=tuple(input_size), representative_images=representative,
        parity_images=parity_images, parity_labels=parity_labels,
        int8_io=args.int8_io or (config["export"]["int8_io"] if config else "uint8"),
    )
    for fmt, path in result["artifacts"].items():
        print(f"{fmt:<12} {path}")
    if result["parity"]:
        print(kexport.format_parity_table(result["parity"]))
        failed = [row["format"] for row in result["parity"] if not row["passed"]]
        if failed:
            print(f"parity FAILED for: {', '.join(failed)}", file=sys.stderr)
            return 1
    return 0


def cmd_models(args):
    import kerasseg

    for name in kerasseg.list_models():
        spec = kerasseg.get_model_spec(name)
        print(f"{name:<16} input multiple of {spec.size_divisor:<3} {spec.paper}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="kerasseg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a YAML recipe")
    train.add_argument("--config", required=True, help="YAML recipe, e.g. configs/enet_shapes.yaml")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="per-class IoU of a .keras model on a split")
    evaluate.add_argument("model", help="a .keras file")
    evaluate.add_argument("--config", help="recipe naming the dataset (default: config.yaml beside the model)")
    evaluate.add_argument("--split", choices=("train", "val"), default="val")
    evaluate.add_argument("--batch-size", type=int, default=8)
    evaluate.set_defaults(func=cmd_evaluate)

    export = sub.add_parser("export", help="export a .keras model to SavedModel, TFLite and ONNX with parity")
    export.add_argument("model", help="a .keras file")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--formats", nargs="+", help="savedmodel tflite-fp32 tflite-fp16 tflite-int8 onnx")
    export.add_argument("--config", help="recipe for calibration/parity data (default: config.yaml beside "
                                         "the model)")
    export.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                        help="fixed TFLite/ONNX input size (default: the recipe's export.input_size)")
    export.add_argument("--int8-io", choices=("uint8", "int8"), help="input/output type of the int8 model")
    export.set_defaults(func=cmd_export)

    models = sub.add_parser("models", help="list the registered models")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
