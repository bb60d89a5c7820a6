import numpy as np
import pytest
import tensorflow as tf

from kerasseg.data.pipeline import eval_pipeline, train_pipeline
from kerasseg.data.shapes import shapes_dataset


def _stripes_dataset(num, height=24, width=40):
    """Label = column // 5 (increasing left to right); image channel 0 = 20 + 20 * label, so label = f(image)."""
    label = np.tile((np.arange(width) // 5).astype(np.int32), (height, 1))
    image = np.stack([20.0 + 20.0 * label, np.full_like(label, 100.0, dtype=np.float64),
                      np.arange(height)[:, None] * 2.0 + 0.0 * label], axis=-1).astype(np.float32)
    image[..., 2] += 10.0  # no channel of a real pixel is 0, so zeros mark padding
    images = np.repeat(image[None], num, axis=0)
    labels = np.repeat(label[None], num, axis=0)
    return tf.data.Dataset.from_tensor_slices((images, labels)), image, label


def _take(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def test_train_pipeline_shapes_and_dtypes():
    ds = train_pipeline(shapes_dataset(8, image_size=(32, 32)), batch_size=4, crop_size=(24, 28), seed=0)
    assert ds.element_spec[0].shape.as_list() == [4, 24, 28, 3]
    assert ds.element_spec[1].shape.as_list() == [4, 24, 28]
    for image, label in _take(ds, 3):  # repeat=True: more batches than one pass holds
        assert image.dtype == np.float32 and label.dtype == np.int32
        assert image.min() >= 0.0 and image.max() <= 255.0


def test_train_pipeline_deterministic_under_seed():
    make = lambda seed: train_pipeline(  # noqa: E731
        shapes_dataset(8, image_size=(32, 32), seed=1), batch_size=2, crop_size=(24, 24), seed=seed,
        shuffle_buffer=8,
    )
    a, b, c = _take(make(5), 6), _take(make(5), 6), _take(make(6), 6)
    for (ia, la), (ib, lb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    assert not all(np.array_equal(la, lc) for (_, la), (_, lc) in zip(a, c))


def test_pipelines_run_without_the_autotune_model_thread_and_yield_the_same_batches():
    # model.fit deletes its iterator when it returns; tf.data's autotuning model thread made that wait up to a
    # minute in some runs (kerasseg.data.pipeline._prefetch). Turning it off must not change a single batch, or
    # runs resumed across the change would replay a different augmentation stream.
    def pipelines():  # fresh ones: a second iteration of a pipeline draws new augmentations
        source = shapes_dataset(8, image_size=(32, 32), seed=1)
        return (train_pipeline(source, batch_size=2, crop_size=(24, 24), seed=5, shuffle_buffer=8),
                eval_pipeline(source, batch_size=3))

    autotuned = tf.data.Options()
    autotuned.autotune.enabled = True
    for ds, ds_autotuned in zip(pipelines(), pipelines()):
        assert ds.options().autotune.enabled is False
        ds_autotuned = ds_autotuned.with_options(autotuned)
        assert ds_autotuned.options().autotune.enabled is True
        for (image, label), (image_on, label_on) in zip(_take(ds, 4), _take(ds_autotuned, 4)):
            np.testing.assert_array_equal(image, image_on)
            np.testing.assert_array_equal(label, label_on)


def test_train_pipeline_new_iteration_new_augmentation_same_sequence():
    def make():
        return train_pipeline(shapes_dataset(4, image_size=(32, 32)), batch_size=4, crop_size=(24, 24), seed=3,
                              repeat=False)
    ds = make()
    first, second = _take(ds, 1), _take(ds, 1)
    assert not np.array_equal(first[0][1], second[0][1])  # epoch 2 is augmented (and shuffled) differently
    again = make()
    np.testing.assert_array_equal(_take(again, 1)[0][1], first[0][1])
    np.testing.assert_array_equal(_take(again, 1)[0][1], second[0][1])


def test_identity_without_scale_and_flip():
    ds, image, label = _stripes_dataset(2)
    out = _take(train_pipeline(ds, 2, crop_size=image.shape[:2], scale_range=None, flip=False, seed=0,
                               repeat=False), 1)
    for img, lab in zip(*out[0]):
        np.testing.assert_array_equal(lab, label)
        np.testing.assert_allclose(img, image, atol=0.05)  # the grid sits 1e-3 px inside the image


def test_label_values_subset_and_flip_consistent_with_image():
    ds, _, label = _stripes_dataset(16)
    batches = _take(train_pipeline(ds, 4, crop_size=(32, 32), scale_range=(0.5, 2.0), seed=11, repeat=False), 4)
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert set(np.unique(labels)) <= set(np.unique(label)) | {255}
    n_flipped = 0
    for img, lab in zip(images, labels):
        valid = lab != 255
        # Padding is exactly where the label is ignored, and it is 0 in every channel.
        np.testing.assert_array_equal(np.all(img == 0, axis=-1), ~valid)
        # The label follows the (bilinearly resampled) image: same geometry, including the flip.
        from_image = np.round((img[..., 0] - 20.0) / 20.0)
        agree = np.mean(from_image[valid] == lab[valid])
        assert agree > 0.85, agree
        # Label columns increase left to right unless flipped.
        cols = np.where(valid.any(axis=0))[0]
        row = np.where(valid.any(axis=1))[0][0]
        left, right = lab[row, cols[0]], lab[row, cols[-1]]
        if left > right:
            n_flipped += 1
    assert 0 < n_flipped < len(labels)


def test_padding_when_scaled_image_smaller_than_crop():
    ds, _, _ = _stripes_dataset(4, height=24, width=40)
    image, label = _take(train_pipeline(ds, 4, crop_size=(32, 48), scale_range=(0.5, 0.5), seed=2,
                                        repeat=False), 1)[0]
    for img, lab in zip(image, label):
        valid = lab != 255
        assert valid.sum() == 12 * 20  # the 12 x 20 scaled image, the rest is padding
        assert np.all(img[~valid] == 0.0)
        assert np.all(img[valid].max(axis=-1) > 0)


def test_eval_pipeline_deterministic_and_pad_to_multiple():
    ds = shapes_dataset(5, image_size=(30, 45), seed=4)
    originals = list(ds.as_numpy_iterator())
    a = _take(eval_pipeline(ds, batch_size=2, pad_to_multiple=8), 10)
    b = _take(eval_pipeline(ds, batch_size=2, pad_to_multiple=8), 10)
    assert [x[0].shape for x in a] == [(2, 32, 48, 3), (2, 32, 48, 3), (1, 32, 48, 3)]
    for (ia, la), (ib, lb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    images = np.concatenate([x[0] for x in a])
    labels = np.concatenate([x[1] for x in a])
    for k, (image, label) in enumerate(originals):
        np.testing.assert_array_equal(images[k, :30, :45], image)
        np.testing.assert_array_equal(labels[k, :30, :45], label)
    assert np.all(labels[:, 30:] == 255) and np.all(labels[:, :, 45:] == 255)
    assert np.all(images[:, 30:] == 0) and np.all(images[:, :, 45:] == 0)


def test_eval_pipeline_pads_mixed_sizes_to_batch_max():
    sizes = [(16, 20), (24, 12)]
    ds = tf.data.Dataset.from_generator(
        lambda: ((np.full(s + (3,), 7, np.uint8), np.ones(s, np.uint8)) for s in sizes),
        output_signature=(tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, None], tf.uint8)),
    )
    image, label = _take(eval_pipeline(ds, batch_size=2), 1)[0]
    assert image.shape == (2, 24, 20, 3) and image.dtype == np.float32 and label.dtype == np.int32
    assert (label == 1).sum() == 16 * 20 + 24 * 12 and (label == 255).sum() == 2 * 24 * 20 - 16 * 20 - 24 * 12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(crop_size=(32,)), "crop_size"),
        (dict(crop_size=(32, 0)), "crop_size"),
        (dict(crop_size=(32, 32), scale_range=(2.0, 1.0)), "scale_range"),
        (dict(crop_size=(32, 32), scale_range=(0.0, 1.0)), "scale_range"),
        (dict(crop_size=(32, 32), batch_size=0), "batch_size"),
    ],
)
def test_train_pipeline_argument_errors(kwargs, match):
    kwargs = dict(dict(batch_size=2), **kwargs)
    with pytest.raises(ValueError, match=match):
        train_pipeline(shapes_dataset(2, image_size=(32, 32)), **kwargs)


def test_eval_pipeline_argument_errors():
    with pytest.raises(ValueError, match="pad_to_multiple"):
        eval_pipeline(shapes_dataset(2, image_size=(32, 32)), 2, pad_to_multiple=0)


def test_full_augmentation_keeps_label_values_and_is_deterministic():
    ds, _, label = _stripes_dataset(8)
    make = lambda seed: train_pipeline(ds, 4, crop_size=(24, 32), scale_range=(0.5, 2.0), seed=seed,  # noqa: E731
                                       rotation_degrees=10, photometric=True, repeat=False)
    a, b, c = _take(make(3), 2), _take(make(3), 2), _take(make(4), 2)
    for (ia, la), (ib, lb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a[0][0], c[0][0])
    labels = np.concatenate([x[1] for x in a])
    images = np.concatenate([x[0] for x in a])
    assert set(np.unique(labels)) <= set(np.unique(label)) | {255}  # nearest neighbour: no new values
    assert (labels == 255).any()  # rotated corners / padding are ignored
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.dtype == np.float32


def test_rotation_moves_label_with_image_and_pads_with_pad_value():
    ds, _, _ = _stripes_dataset(4)
    out = _take(train_pipeline(ds, 4, crop_size=(24, 40), scale_range=None, flip=False, seed=1,
                               rotation_degrees=15, image_pad_value=[5.0, 6.0, 7.0], repeat=False), 1)[0]
    images, labels = out
    assert 0 < (labels == 255).sum() < 0.3 * labels.size  # the rotated-in corners
    for img, lab in zip(images, labels):
        valid = lab != 255
        # Corners come from outside: the image there is the pad value, except next to the rotated border where
        # bilinear sampling blends it with image pixels; keep ignored pixels whose 3x3 neighbourhood is ignored.
        padded = np.pad(~valid, 1)
        inner = np.all([padded[1 + dy:padded.shape[0] - 1 + dy, 1 + dx:padded.shape[1] - 1 + dx]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
        if inner.sum() > 5:
            assert np.abs(np.median(img[inner], axis=0) - [5.0, 6.0, 7.0]).max() < 1.0
        from_image = np.round((img[..., 0] - 20.0) / 20.0)
        assert np.mean(from_image[valid] == lab[valid]) > 0.85


def test_mean_padding_and_photometric_leave_labels_alone():
    ds, _, label = _stripes_dataset(4, height=24, width=40)
    plain = _take(train_pipeline(ds, 4, crop_size=(32, 48), scale_range=(0.5, 0.5), seed=2, repeat=False,
                                 image_pad_value=[10.0, 20.0, 30.0]), 1)[0]
    for img, lab in zip(*plain):
        np.testing.assert_array_equal(img[lab == 255], np.tile([10.0, 20.0, 30.0], ((lab == 255).sum(), 1)))
    jittered = _take(train_pipeline(ds, 4, crop_size=(32, 48), scale_range=(0.5, 0.5), seed=2, repeat=False,
                                    image_pad_value=[10.0, 20.0, 30.0],
                                    photometric={"brightness": 0.2, "hue": None}), 1)[0]
    np.testing.assert_array_equal(jittered[1], plain[1])  # same geometry, same labels
    assert np.abs(jittered[0] - plain[0]).max() > 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(photometric={"gamma": 1.0}), "unknown keys"),
    (dict(photometric={"contrast": (1.5, 0.5)}), "contrast"),
    (dict(rotation_degrees=-1), "rotation_degrees"),
    (dict(image_pad_value=[1, 2]), "image_pad_value"),
])
def test_augmentation_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_pipeline(shapes_dataset(2, image_size=(32, 32)), 2, crop_size=(32, 32), **kwargs)


def test_eval_pipeline_resize_to_fixed_size():
    ds, image, label = _stripes_dataset(3)
    images, labels = _take(eval_pipeline(ds, batch_size=3, resize_to=(12, 20), pad_to_multiple=16), 1)[0]
    assert images.shape == (3, 16, 32, 3) and labels.shape == (3, 16, 32)
    np.testing.assert_array_equal(labels[0, :12, :20], label[1::2, 1::2])  # nearest, half-pixel centres
    assert np.all(labels[:, 12:] == 255) and np.all(labels[:, :, 20:] == 255)
