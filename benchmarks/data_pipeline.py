"""Throughput of `kerasseg.data.train_pipeline` (images/s) on synthetic shapes and, when present, CamVid.

Run from the repository root (or with kerasseg installed):

    python -m benchmarks.data_pipeline [--batches 30] [--camvid /work/shared/datasets/camvid]

Each row reads `--batches` batches after a warm-up batch, with the tf.data private thread pool limited to 1 and
to 2 threads. Not part of the test suite.
"""
import argparse
import os
import time

import tensorflow as tf

from kerasseg.data import folder_dataset, shapes_dataset, train_pipeline


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


def _filled_cache(dataset):
    dataset = dataset.cache()
    for _ in dataset:  # one pass fills the in-memory cache, so the timed batches only augment
        pass
    return dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--camvid", default="/work/shared/datasets/camvid")
    args = parser.parse_args()

    cases = [
        ("shapes 96x96 -> crop 96x96 (drawn on the fly)",
         lambda: shapes_dataset(10_000, image_size=(96, 96), seed=0), (96, 96)),
        ("shapes 96x96 -> crop 96x96 (cached)",
         lambda: _filled_cache(shapes_dataset(256, image_size=(96, 96), seed=0)), (96, 96)),
    ]
    list_file = os.path.join(args.camvid, "train.txt")
    if os.path.isfile(list_file):
        cases.append((
            "CamVid 360x480 PNG -> crop 256x256 (decode every time)",
            lambda: folder_dataset(list_file=list_file, num_classes=11, void_class=11), (256, 256),
        ))
    else:
        print(f"(CamVid not found at {args.camvid}: skipped)")

    print(f"{'dataset':58s} {'threads':>7s} {'images/s':>9s}")
    for name, make, crop in cases:
        for threads in (1, 2):
            dataset = train_pipeline(make(), args.batch_size, crop, scale_range=(0.5, 2.0), seed=0)
            print(f"{name:58s} {threads:7d} {images_per_second(dataset, args.batches, threads):9.1f}")


if __name__ == "__main__":
    main()
