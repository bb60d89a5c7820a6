"""Throughput of the data pipeline (images/s) against what ENet training consumes, on CamVid and shapes.

Run from the repository root (or with kerasseg installed):

    python -m benchmarks.data_pipeline [--batches 20] [--repeats 3] [--camvid /work/shared/datasets/camvid]

Rows, each with the tf.data private thread pool limited to 1 and to 2 threads:

- CamVid decode only: read + decode + check PNG pairs, batch (no augmentation);
- CamVid full training pipeline: decode + random scale (0.5-2.0) + crop/pad 360x480 + flip + rotation (10 deg)
  + photometric jitter + shuffle + batch, and its ratio to decode-only;
- shapes (synthetic) drawn on the fly and cached, as before;
- ENet training images/s at 360x480 (`train_on_batch` with the CamVid recipe's optimizer and weighted loss,
  after warm-up steps), the rate the pipeline has to keep up with.

Every number is the best of `--repeats` runs: the machine's cores may be shared, which only ever slows a run
down. Not part of the test suite.
"""
import argparse
import os
import time

import numpy as np
import tensorflow as tf

from kerasseg.data import camvid_dataset, shapes_dataset, train_pipeline


def images_per_second(dataset, batches, threads):
    """Images/s over `batches` batches of `dataset` run with a private pool of `threads` threads.

    Args:
        dataset: batched `tf.data.Dataset` of (image, label).
        batches: number of timed batches (after one warm-up batch).
        threads: size of the tf.data private thread pool.

    Returns:
        Images per second (float).
    """
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    iterator = iter(dataset.with_options(options))
    next(iterator)
    start = time.perf_counter()
    images = 0
    for _ in range(batches):
        image, _ = next(iterator)
        images += int(image.shape[0])
    return images / (time.perf_counter() - start)


def best_of(repeats, measure):
    return max(measure() for _ in range(repeats))


def _filled_cache(dataset):
    dataset = dataset.cache()
    for _ in dataset:  # one pass fills the in-memory cache, so the timed batches only augment
        pass
    return dataset


def enet_training_images_per_second(batch_size, size, steps, warmup, repeats, num_classes=11):
    """Images/s of ENet `train_on_batch` at `size` with Adam + weight decay and a class-weighted loss."""
    import keras

    from kerasseg.losses import SegmentationCrossEntropy
    from kerasseg.registry import build_model
    from kerasseg.training import make_optimizer

    keras.utils.set_random_seed(0)
    model = build_model("enet", num_classes, input_shape=(None, None, 3))
    model.compile(optimizer=make_optimizer(5e-4, 10_000, 2e-4),
                  loss=SegmentationCrossEntropy(num_classes, class_weights=np.linspace(3, 40, num_classes)))
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size,) + size + (3,)).astype(np.float32)
    labels = rng.integers(0, num_classes, (batch_size,) + size).astype(np.int32)
    for _ in range(warmup):
        model.train_on_batch(images, labels)

    def measure():
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        return steps * batch_size / (time.perf_counter() - start)

    return best_of(repeats, measure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--camvid", default="/work/shared/datasets/camvid")
    parser.add_argument("--enet-steps", type=int, default=5, help="timed ENet steps per repeat (0: skip ENet)")
    parser.add_argument("--skip-shapes", action="store_true")
    args = parser.parse_args()

    rows = []
    have_camvid = os.path.isfile(os.path.join(args.camvid, "train.txt"))
    if have_camvid:
        crop = (360, 480)

        def decode_only():
            return camvid_dataset(args.camvid, "train").repeat().batch(args.batch_size).prefetch(2)

        def full():
            return train_pipeline(camvid_dataset(args.camvid, "train"), args.batch_size, crop,
                                  scale_range=(0.5, 2.0), seed=0, rotation_degrees=10, photometric=True)

        def geometric():
            return train_pipeline(camvid_dataset(args.camvid, "train"), args.batch_size, crop,
                                  scale_range=(0.5, 2.0), seed=0)

        for threads in (1, 2):
            decode = best_of(args.repeats, lambda: images_per_second(decode_only(), args.batches, threads))
            rows.append(("CamVid decode only (read + decode + checks, batch)", threads, decode, None))
            rate = best_of(args.repeats, lambda: images_per_second(geometric(), args.batches, threads))
            rows.append(("CamVid decode + scale/crop 360x480/flip", threads, rate, rate / decode))
            rate = best_of(args.repeats, lambda: images_per_second(full(), args.batches, threads))
            rows.append(("CamVid full pipeline (+ rotation + photometric)", threads, rate, rate / decode))
    else:
        print(f"(CamVid not found at {args.camvid}: CamVid rows skipped)")

    if not args.skip_shapes:
        for name, make in (("shapes 96x96 crop 96x96 (drawn on the fly)",
                            lambda: shapes_dataset(10_000, image_size=(96, 96), seed=0)),
                           ("shapes 96x96 crop 96x96 (cached)",
                            lambda: _filled_cache(shapes_dataset(256, image_size=(96, 96), seed=0)))):
            for threads in (1, 2):
                rate = best_of(args.repeats, lambda: images_per_second(
                    train_pipeline(make(), args.batch_size, (96, 96), seed=0), args.batches, threads))
                rows.append((name, threads, rate, None))

    print(f"\n{'pipeline':54s} {'threads':>7s} {'images/s':>9s} {'vs decode':>9s}")
    for name, threads, rate, ratio in rows:
        print(f"{name:54s} {threads:7d} {rate:9.1f} {'' if ratio is None else f'{ratio:9.2f}'}")

    if args.enet_steps:
        batch = 4
        rate = enet_training_images_per_second(batch, (360, 480), args.enet_steps, warmup=2, repeats=args.repeats)
        print(f"\nENet training (train_on_batch, batch {batch}, 360x480, all {os.cpu_count()} cores): "
              f"{rate:.2f} images/s")
        full_2 = [r for name, threads, r, _ in rows if name.startswith("CamVid full") and threads == 2]
        if full_2:
            print(f"full pipeline on 2 threads / ENet training: {full_2[0] / rate:.1f}x")


if __name__ == "__main__":
    main()
