import numpy as np
import pytest

from kerasseg.data.shapes import SHAPES_CLASSES, SHAPES_PALETTE, shapes_dataset


def _arrays(ds):
    return [(image, label) for image, label in ds.as_numpy_iterator()]


def test_shapes_dtypes_shapes_and_ranges():
    samples = _arrays(shapes_dataset(6, image_size=(32, 48), seed=3))
    assert len(samples) == 6
    for image, label in samples:
        assert image.shape == (32, 48, 3) and image.dtype == np.float32
        assert label.shape == (32, 48) and label.dtype == np.int32
        assert image.min() >= 0.0 and image.max() <= 255.0
        assert label.min() >= 0 and label.max() < len(SHAPES_CLASSES)
        assert (label > 0).any(), "every sample has at least one visible shape"
    assert SHAPES_PALETTE.shape == (len(SHAPES_CLASSES), 3) and SHAPES_PALETTE.dtype == np.uint8


def test_shapes_deterministic_and_seed_dependent():
    a = _arrays(shapes_dataset(4, image_size=(32, 32), seed=7))
    b = _arrays(shapes_dataset(4, image_size=(32, 32), seed=7))
    c = _arrays(shapes_dataset(4, image_size=(32, 32), seed=8))
    for (ia, la), (ib, lb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    assert not all(np.array_equal(la, lc) for (_, la), (_, lc) in zip(a, c))
    # Sample i depends only on (seed, i): a shorter dataset is a prefix of a longer one.
    longer = _arrays(shapes_dataset(6, image_size=(32, 32), seed=7))
    np.testing.assert_array_equal(longer[3][0], a[3][0])


def test_shapes_all_classes_appear_and_colour_does_not_tell_class():
    samples = _arrays(shapes_dataset(40, image_size=(48, 48), seed=0))
    labels = np.stack([label for _, label in samples])
    images = np.stack([image for image, _ in samples])
    counts = np.bincount(labels.ravel(), minlength=len(SHAPES_CLASSES))
    assert (counts > 0).all(), counts
    assert counts[0] < labels.size * 0.95  # shapes cover a real part of the images
    # Mean colour of each class over the set is far from saturated-single-colour: shapes are coloured at random.
    for c in range(1, len(SHAPES_CLASSES)):
        pixels = images[labels == c]
        assert pixels.std(axis=0).min() > 30.0, (SHAPES_CLASSES[c], pixels.std(axis=0))


def test_shapes_argument_errors():
    with pytest.raises(ValueError, match="image_size"):
        shapes_dataset(2, image_size=(32,))
    with pytest.raises(ValueError, match="num_samples"):
        shapes_dataset(0)
    with pytest.raises(ValueError, match="num_shapes"):
        shapes_dataset(2, num_shapes=(3, 1))
