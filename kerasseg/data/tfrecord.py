"""TFRecord shards of segmentation samples: a writer for any reader's output and a parallel reader.

Each sample is one `tf.train.Example` with the features

    image/encoded   bytes   PNG (lossless, default) or JPEG of the uint8 RGB image
    image/format    bytes   b"png" or b"jpeg"
    mask/encoded    bytes   single-channel PNG of the label (8-bit, or 16-bit when a value exceeds 255)
    image/height    int64
    image/width     int64
    image/filename  bytes   the source file name (or "sample_<index>")

The stored mask holds the reader's output labels (already mapped to classes, `ignore_class` for ignored
pixels), so reading needs no dataset-specific mapping: values must be in [0, num_classes) or `ignore_class`.

Paths go through `tf.io.gfile`, so shards can be written to and read from any filesystem TensorFlow supports
(local, `gs://`, `s3://` with the matching plugin, ...).
"""
import os
import struct

import numpy as np
import tensorflow as tf

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.decode import (AUTOTUNE, LabelMap, MaskFormat, SkippedSamples, check_pair, decode_image,
                                  decode_mask, read_dataset)

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string, default_value=b"png"),
    "mask/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=b""),
}
IMAGE_FORMATS = ("png", "jpeg")


def shard_paths(output_prefix, num_shards):
    """The file names `{prefix}-00000-of-0000N.tfrecord` of `num_shards` shards."""
    return [f"{output_prefix}-{k:05d}-of-{num_shards:05d}.tfrecord" for k in range(num_shards)]


def _encode_sample(image_format, jpeg_quality):
    def encode(image, label, name):
        image_u8 = tf.cast(tf.clip_by_value(tf.round(tf.cast(image, tf.float32)), 0.0, 255.0), tf.uint8)
        if image_format == "png":
            image_bytes = tf.io.encode_png(image_u8)
        else:
            image_bytes = tf.io.encode_jpeg(image_u8, quality=jpeg_quality)
        label = tf.cast(label, tf.int32)
        check = tf.debugging.Assert(
            tf.reduce_all(tf.logical_and(label >= 0, label < 65536)),
            ["label values must be in [0, 65536) to be stored as PNG:", name])
        with tf.control_dependencies([check]):
            mask_bytes = tf.cond(
                tf.reduce_max(label) > 255,
                lambda: tf.io.encode_png(tf.cast(label, tf.uint16)[..., None]),
                lambda: tf.io.encode_png(tf.cast(label, tf.uint8)[..., None]),
            )
        shape = tf.shape(label)
        return image_bytes, mask_bytes, shape[0], shape[1], name

    return encode


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def write_tfrecords(dataset, output_prefix, num_shards=1, image_format="png", jpeg_quality=95):
    """Write (image, label) samples of any reader to TFRecord shards of `tf.train.Example`s.

    Samples go to the shards round-robin (sample i to shard i % num_shards), so the shards have equal sizes
    within one and a parallel interleave over them reads the samples in about their original order.

    Args:
        dataset: unbatched `tf.data.Dataset` of (image [H, W, 3] in [0, 255], int label [H, W]) or
            (image, label, file_name), e.g. `camvid_dataset(root, "train", with_file_names=True)`.
            Images should be integer-valued (as readers return them): they are rounded to uint8.
        output_prefix: path prefix (any TF filesystem); parent folders are created.
        num_shards: number of shard files (e.g. one per ~100-200 MB).
        image_format: "png" (lossless) or "jpeg" (smaller; changes pixel values slightly, never labels).
        jpeg_quality: JPEG quality for `image_format="jpeg"`.

    Returns:
        (list of shard paths, number of samples written).
    """
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int; got {num_shards!r}")
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}; got {image_format!r}")
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError("dataset elements must be (image, label) or (image, label, file_name)")
    if len(spec) == 2:
        numbered = tf.data.Dataset.zip((dataset, tf.data.Dataset.range(2**62)))
        dataset = numbered.map(lambda sample, i: (sample[0], sample[1],
                                                  tf.strings.join(["sample_", tf.strings.as_string(i)])))
    encoded = dataset.map(_encode_sample(image_format, jpeg_quality), num_parallel_calls=AUTOTUNE,
                          deterministic=True).prefetch(AUTOTUNE)
    parent = os.path.dirname(output_prefix)
    if parent:
        tf.io.gfile.makedirs(parent)
    paths = shard_paths(output_prefix, num_shards)
    writers = [tf.io.TFRecordWriter(path) for path in paths]
    count = 0
    try:
        for image_bytes, mask_bytes, height, width, name in encoded.as_numpy_iterator():
            example = tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": _bytes(image_bytes),
                "image/format": _bytes(image_format.encode()),
                "mask/encoded": _bytes(mask_bytes),
                "image/height": _int(height),
                "image/width": _int(width),
                "image/filename": _bytes(name),
            }))
            writers[count % num_shards].write(example.SerializeToString())
            count += 1
    finally:
        for writer in writers:
            writer.close()
    return paths, count


def _record_name(features, shard, index):
    stored = features["image/filename"]
    where = tf.strings.join([shard, " record ", tf.strings.as_string(index)])
    return tf.where(tf.equal(stored, ""), where, tf.strings.join([stored, " (", where, ")"]))


def tfrecord_dataset(files, num_classes, ignore_class=IGNORE_CLASS, cycle_length=4, shuffle_files=False,
                     seed=None, on_error="raise", skipped=None, with_file_names=False):
    """Read shards written by `write_tfrecords`, interleaving `cycle_length` files in parallel.

    Args:
        files: a glob pattern (e.g. "gs://bucket/camvid/train-*.tfrecord") or a list of shard paths.
        num_classes: number of classes; stored labels must be in [0, num_classes) or `ignore_class`.
        ignore_class: label of ignored pixels.
        cycle_length: shards read at the same time.
        shuffle_files: shuffle the shard order (each iteration, deterministic under `seed`); the order of
            samples then is not fixed across shards (pair with a shuffle buffer for training).
        seed: seed of the shard shuffle.
        on_error, skipped, with_file_names: see `kerasseg.data.decode.read_dataset`; problems name the
            record's stored file name and its shard and record number.

    Returns:
        A `tf.data.Dataset` of (image float32 [H, W, 3] in [0, 255], label int32 [H, W]).
    """
    if isinstance(files, (str, bytes, os.PathLike)):
        pattern = os.fspath(files)
        paths = sorted(tf.io.gfile.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no TFRecord files match {pattern!r}")
    else:
        paths = [os.fspath(p) for p in files]
        if not paths:
            raise ValueError("files is an empty list")
        missing = [p for p in paths if not tf.io.gfile.exists(p)]
        if missing:
            raise FileNotFoundError(f"TFRecord file {missing[0]!r} does not exist")
    label_map = LabelMap.identity(num_classes, ignore_class)
    # A truncated or corrupt shard makes TFRecordDataset fail with a bare DataLossError mid-epoch: find it now.
    if on_error == "skip" and skipped is None:
        skipped = SkippedSamples()
    good_records = []
    for path in paths:
        count, problem = scan_tfrecord(path)
        if problem and on_error == "raise":
            raise TFRecordError(f"{problem}; the {count} record(s) before it are readable (pass on_error='skip' "
                                "to train on them and report the rest)")
        if problem:
            skipped.add(f"{problem}: the rest of this shard is skipped after {count} good record(s)")
        good_records.append(count)
    shards = tf.data.Dataset.from_tensor_slices((paths, tf.constant(good_records, tf.int64)))
    if shuffle_files:
        shards = shards.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    records = shards.interleave(
        lambda shard, count: tf.data.TFRecordDataset(shard).take(count).enumerate().map(
            lambda index, record: (record, shard, index)),
        cycle_length=min(cycle_length, len(paths)), num_parallel_calls=AUTOTUNE, deterministic=True,
    )

    def read(record, shard, index):
        features = tf.io.parse_single_example(record, FEATURES)
        name = _record_name(features, shard, index)
        image, image_problem = decode_image(features["image/encoded"], name)
        values, mask_problem = decode_mask(features["mask/encoded"], tf.strings.join([name, " mask"]),
                                           MaskFormat())
        problem = tf.where(tf.equal(image_problem, ""), mask_problem, image_problem)
        stored_size = tf.cast(tf.stack([features["image/height"], features["image/width"]]), tf.int32)
        problem = tf.where(
            tf.logical_and(tf.equal(problem, ""), tf.reduce_any(tf.not_equal(tf.shape(image)[:2], stored_size))),
            tf.strings.join([name, ": decoded image size differs from the stored image/height, image/width"]),
            problem)
        label, problem = check_pair(image, values, label_map, name, tf.strings.join([name, " mask"]), problem)
        return image, label, problem

    def diagnose(record, shard, index):
        where = tf.strings.join([shard, " record ", tf.strings.as_string(index)])
        return tf.strings.join([where, ": cannot be parsed or decoded (not a kerasseg Example, or corrupt "
                                       "image/mask bytes)"])

    def name_of(record, shard, index):
        return tf.strings.join([shard, ":", tf.strings.as_string(index)])

    return read_dataset(records, read, diagnose, name_of, on_error=on_error, skipped=skipped,
                        with_file_names=with_file_names)


class TFRecordError(ValueError):
    """A TFRecord file whose framing is broken (truncated or corrupt); the message names the file and offset."""


def scan_tfrecord(path):
    """Checks the framing of a TFRecord file (length, CRC fields, payload) without decoding the records.

    A record is: uint64 length, uint32 masked CRC of the length, `length` bytes, uint32 masked CRC of the data.
    The length CRCs are checked (a corrupt length would otherwise read garbage); payload corruption is caught
    when the record is parsed and decoded, as for image files.

    Args:
        path: a TFRecord file (any TensorFlow filesystem path).

    Returns:
        (number of well-framed records before the first problem, problem message or None); the message names
        the file, the record number and its byte offset.
    """
    count, offset = 0, 0
    with tf.io.gfile.GFile(path, "rb") as f:
        size = f.size()
        while offset < size:
            header = f.read(12)
            if len(header) < 12:
                return count, f"{path}: truncated record {count} at byte offset {offset} (incomplete header)"
            length, = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != _masked_crc32c(header[:8]):
                return count, f"{path}: corrupt record {count} at byte offset {offset} (bad length checksum)"
            if offset + 12 + length + 4 > size:
                return count, (f"{path}: truncated record {count} at byte offset {offset} (needs {length + 16} "
                               f"bytes, the file has {size - offset} left)")
            f.seek(offset + 12 + length + 4)
            offset += 12 + length + 4
            count += 1
    return count, None


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def _masked_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def count_records(files):
    """Number of records in TFRecord files (reads them once)."""
    paths = sorted(tf.io.gfile.glob(files)) if isinstance(files, str) else list(files)
    return int(tf.data.TFRecordDataset(paths).reduce(np.int64(0), lambda count, _: count + 1))
