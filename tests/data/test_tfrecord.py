import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasseg import data as kdata
from kerasseg.data.tfrecord import shard_paths


def _camvid(root, n=5):
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "train"))
    os.makedirs(os.path.join(root, "trainannot"))
    for k in range(n):
        size = (16, 24) if k % 2 == 0 else (12, 20)
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(os.path.join(root, "train",
                                                                                             f"f{k}.png"))
        Image.fromarray(rng.integers(0, 12, size, dtype=np.uint8), mode="L").save(
            os.path.join(root, "trainannot", f"f{k}.png"))


def test_round_trip_sharded_with_names(tmp_path):
    _camvid(str(tmp_path / "camvid"))
    source = kdata.camvid_dataset(str(tmp_path / "camvid"), "train", with_file_names=True)
    paths, count = kdata.write_tfrecords(source, str(tmp_path / "out" / "train"), num_shards=2)
    assert count == 5 and paths == shard_paths(str(tmp_path / "out" / "train"), 2)
    assert [sum(1 for _ in tf.data.TFRecordDataset(p)) for p in paths] == [3, 2]
    expected = {name.decode(): (image, label) for image, label, name in source.as_numpy_iterator()}
    read = kdata.tfrecord_dataset(str(tmp_path / "out" / "train-*"), num_classes=11, cycle_length=2,
                                  with_file_names=True)
    samples = list(read.as_numpy_iterator())
    assert len(samples) == 5
    for image, label, _ in samples:
        assert image.dtype == np.float32 and label.dtype == np.int32
    # Interleaving 2 shards written round-robin gives back the original order; PNG is lossless.
    for (image, label, _), (name, (image0, label0)) in zip(samples, expected.items()):
        np.testing.assert_array_equal(image, image0)
        np.testing.assert_array_equal(label, label0)
    example = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(paths[0]))).numpy())
    features = example.features.feature
    assert features["image/filename"].bytes_list.value[0].decode().endswith("f0.png")
    assert (features["image/height"].int64_list.value[0], features["image/width"].int64_list.value[0]) == (16, 24)


def test_jpeg_images_keep_labels_and_errors_name_the_record(tmp_path):
    labels = np.array([[[0, 1, 2, 255]] * 4, [[3, 3, 300, 1]] * 4], np.int32)
    images = np.full((2, 4, 4, 3), 128.0, np.float32)
    source = tf.data.Dataset.from_tensor_slices((images, labels))
    paths, _ = kdata.write_tfrecords(source, str(tmp_path / "s"), image_format="jpeg")
    # Sample 1 holds 300 (a 16-bit mask): fine for 301 classes, an error naming the record for 4.
    samples = list(kdata.tfrecord_dataset(paths, num_classes=301).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([s[1] for s in samples]), labels)
    assert np.abs(samples[0][0] - 128.0).max() <= 2.0
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"sample_1 \(.*s-00000-of-00001.tfrecord record 1\)"):
        list(kdata.tfrecord_dataset(paths, num_classes=4))
    skipped = kdata.SkippedSamples()
    assert len(list(kdata.tfrecord_dataset(paths, num_classes=4, on_error="skip", skipped=skipped))) == 1
    assert skipped.count == 1 and "300" in skipped.problems[0]
    # A file that is not a TFRecord of kerasseg Examples.
    with tf.io.TFRecordWriter(str(tmp_path / "junk.tfrecord")) as writer:
        writer.write(b"not an example")
    with pytest.raises(tf.errors.InvalidArgumentError, match="junk.tfrecord record 0: cannot be parsed"):
        list(kdata.tfrecord_dataset(str(tmp_path / "junk.tfrecord"), num_classes=4))
    with pytest.raises(FileNotFoundError, match="nothing-"):
        kdata.tfrecord_dataset(str(tmp_path / "nothing-*"), num_classes=4)


def test_truncated_shard_names_file_and_offset_and_is_skipped_with_on_error_skip(tmp_path):
    from kerasseg.data.tfrecord import TFRecordError, scan_tfrecord

    samples = kdata.shapes_dataset(6, image_size=(16, 16), seed=0)
    paths, count = kdata.write_tfrecords(samples, str(tmp_path / "s"), num_shards=2)
    assert scan_tfrecord(paths[0]) == (3, None)
    data = open(paths[1], "rb").read()
    record_sizes = []
    offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        record_sizes.append(length + 16)
        offset += length + 16
    cut = record_sizes[0] + record_sizes[1] // 2  # the second record of shard 1 is cut in the middle
    open(paths[1], "wb").write(data[:cut])
    with pytest.raises(TFRecordError, match=rf"{paths[1]}: truncated record 1 at byte offset {record_sizes[0]} "):
        kdata.tfrecord_dataset(paths, num_classes=6)
    skipped = kdata.SkippedSamples()
    good = list(kdata.tfrecord_dataset(paths, num_classes=6, on_error="skip", skipped=skipped))
    assert len(good) == 4  # 3 + the 1 good record before the cut
    assert len(skipped) == 1
    assert f"{paths[1]}: truncated record 1 at byte offset {record_sizes[0]}" in skipped.problems[0]
    # A corrupt length field (a flipped bit) is found by its checksum.
    corrupt = bytearray(data)
    corrupt[record_sizes[0] + 2] ^= 0x10
    open(paths[1], "wb").write(bytes(corrupt))
    assert scan_tfrecord(paths[1]) == (1, f"{paths[1]}: corrupt record 1 at byte offset {record_sizes[0]} "
                                          "(bad length checksum)")
