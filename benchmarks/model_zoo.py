"""Model-zoo table: parameters and multiply-adds of every registered model (and DeepLabv3+ per backbone).

Run from the repository root (or with kerasseg installed):

    python -m benchmarks.model_zoo [--size 512 512] [--num-classes 21]

Prints a Markdown table. GMACs are multiply-adds of convolutions and dense layers for one image at `--size`
(`kerasseg.utils.count_macs`); parameters are trainable / non-trainable (batch-norm statistics, frozen kernels).
Not part of the test suite.
"""
import argparse
import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasseg  # noqa: E402
from kerasseg.utils import count_macs, count_params  # noqa: E402

#: Extra rows besides each registered model with its default options: (label, registry name, options).
VARIANTS = (
    ("deeplabv3plus (mobilenetv2, light head)", "deeplabv3plus", {"backbone": "mobilenetv2", "light_head": True}),
    ("deeplabv3plus (resnet50)", "deeplabv3plus", {"backbone": "resnet50"}),
    ("deeplabv3plus (resnet101)", "deeplabv3plus", {"backbone": "resnet101"}),
    ("deeplabv3plus (xception)", "deeplabv3plus", {"backbone": "xception"}),
    ("refinenet (resnet50)", "refinenet", {"backbone": "resnet50"}),
    ("refinenet_lw (mobilenetv2)", "refinenet_lw", {"backbone": "mobilenetv2"}),
    ("sfnet (resnet50)", "sfnet", {"backbone": "resnet50"}),
)


def model_rows(size, num_classes):
    """Yields (label, paper, trainable, non_trainable, GMACs) for every registered model and `VARIANTS`."""
    entries = []
    for name in kerasseg.list_models():  # registered defaults, labelled with their default backbone
        backbone = inspect.signature(kerasseg.get_model_spec(name).builder).parameters.get("backbone")
        entries.append((f"{name} ({backbone.default})" if backbone else name, name, {}))
    entries += [v for v in VARIANTS if v[1] in kerasseg.list_models()]
    for label, name, options in entries:
        model = kerasseg.build_model(name, num_classes, input_shape=(None, None, 3), **options)
        params = count_params(model)
        macs = count_macs(model, size)
        yield label, kerasseg.get_model_spec(name).paper, params["trainable"], params["non_trainable"], macs / 1e9
        del model
        keras.backend.clear_session()


def format_table(rows, size, num_classes):
    lines = [f"| model | trainable params | non-trainable | GMACs at {size[0]}x{size[1]} | paper |",
             "|---|---:|---:|---:|---|"]
    for label, paper, trainable, non_trainable, gmacs in rows:
        lines.append(f"| {label} | {trainable:,} | {non_trainable:,} | {gmacs:.2f} | {paper} |")
    lines.append(f"\n{num_classes} classes; GMACs = 10^9 multiply-adds of conv / transposed conv / dense layers, "
                 f"batch 1 (`python -m benchmarks.model_zoo --size {size[0]} {size[1]} --num-classes {num_classes}`).")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    parser.add_argument("--num-classes", type=int, default=21)
    args = parser.parse_args(argv)
    rows = list(model_rows(tuple(args.size), args.num_classes))
    print(format_table(rows, args.size, args.num_classes))


if __name__ == "__main__":
    main()
