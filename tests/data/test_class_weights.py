import numpy as np
import pytest
import tensorflow as tf

from kerasseg.data.class_weights import (class_counts, class_frequencies, enet_class_weights,
                                         median_frequency_weights, pixel_statistics)


def _dataset(labels):
    images = np.zeros(labels.shape + (3,), np.float32)
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _labels():
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([0, 1, 1, 1, 3, 255], np.int32), size=(5, 6, 7))
    return labels


def test_frequencies_match_numpy_batched_and_unbatched():
    labels = _labels()
    valid = labels[labels != 255]
    expected_counts = np.bincount(valid, minlength=4)
    for ds in (_dataset(labels), _dataset(labels).batch(2)):
        frequencies, counts = class_frequencies(ds, num_classes=4)
        assert counts.dtype == np.int64 and frequencies.dtype == np.float64
        np.testing.assert_array_equal(counts, expected_counts)
        np.testing.assert_allclose(frequencies, expected_counts / valid.size)
    assert counts[2] == 0 and frequencies.sum() == pytest.approx(1.0)


def test_enet_weights_formula():
    labels = _labels()
    valid = labels[labels != 255]
    p = np.bincount(valid, minlength=4) / valid.size
    weights = enet_class_weights(_dataset(labels), num_classes=4)
    assert weights.dtype == np.float32 and weights.shape == (4,)
    np.testing.assert_allclose(weights, 1.0 / np.log(1.02 + p), rtol=1e-6)
    assert weights[2] == pytest.approx(1.0 / np.log(1.02))  # absent class gets the largest weight
    assert weights[1] < weights[0]  # the most frequent class gets the smallest
    np.testing.assert_allclose(enet_class_weights(_dataset(labels), 4, c=1.5), 1.0 / np.log(1.5 + p), rtol=1e-6)


def test_custom_ignore_class_and_errors():
    labels = np.array([[[0, 1, 9], [9, 9, 1]]], np.int32)
    np.testing.assert_array_equal(class_counts(_dataset(labels), 2, ignore_class=9), [1, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside"):
        class_counts(_dataset(labels), 2)  # 9 is neither a class nor the default ignore value 255
    with pytest.raises(ValueError, match="no labelled pixels"):
        class_frequencies(_dataset(np.full((2, 3, 3), 255, np.int32)), 2)
    with pytest.raises(ValueError, match="c must be"):
        enet_class_weights(_dataset(labels), 2, ignore_class=9, c=1.0)


def test_median_frequency_weights_match_numpy_and_batching():
    labels = _labels()
    labels[0] = 3  # class 3 fills image 0, so its per-image frequency differs from its global one
    freq = []
    for c in range(4):
        with_c = [image for image in labels if (image == c).any()]
        freq.append(sum((image == c).sum() for image in with_c) / sum((image != 255).sum() for image in with_c)
                    if with_c else 0.0)
    freq = np.array(freq)
    present = freq > 0
    expected = np.where(present, np.median(freq[present]) / np.where(present, freq, 1), 0.0)
    for ds in (_dataset(labels), _dataset(labels).batch(2)):
        np.testing.assert_allclose(median_frequency_weights(ds, 4), expected, rtol=1e-6)
    stats = pixel_statistics(_dataset(labels).batch(3), 4)
    assert stats.num_images == 5 and stats.ignored_pixels == (labels == 255).sum()
    np.testing.assert_array_equal(stats.images, [(labels == c).any(axis=(1, 2)).sum() for c in range(4)])
    summary = stats.to_dict(["a", "b", "c", "d"])
    assert summary["classes"][2]["images"] == 0 and summary["classes"][2]["median_frequency_weight"] == 0.0
    assert "enet w" in stats.table(["a", "b", "c", "d"])


@pytest.mark.parametrize("num_parallel_calls", [None, tf.data.AUTOTUNE])
def test_labels_are_counted_without_computing_the_images(num_parallel_calls):
    labels = _labels()

    def sample(index):
        # The image fails if computed (35 values cannot take shape [-1, 8]); the counts only need the label.
        image = tf.reshape(tf.range(35 + 0 * index), [-1, 8])
        return image, tf.gather(tf.constant(labels), index)

    dataset = tf.data.Dataset.range(len(labels)).map(sample, num_parallel_calls=num_parallel_calls)
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(iter(dataset))
    valid = labels[labels != 255]
    np.testing.assert_array_equal(class_counts(dataset, 4), np.bincount(valid, minlength=4))
    with pytest.raises(ValueError, match=r"\(image, label\) tuples"):
        class_counts(tf.data.Dataset.from_tensor_slices(labels), 4)
