import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasseg.data.folder import folder_dataset

CAMVID = "/work/shared/datasets/camvid"


def _save_image(path, size=(12, 16), seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    shape = size + (3,) if mode == "RGB" else size
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(array, mode=mode).save(path)
    return array


def _save_mask(path, size=(12, 16), values=(0, 1, 2), seed=0):
    rng = np.random.default_rng(seed + 100)
    array = rng.choice(np.array(values, dtype=np.uint8), size=size)
    Image.fromarray(array, mode="L").save(path)
    return array


def _make_folders(tmp_path, names=("a", "b"), image_ext=".jpg"):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    arrays = {}
    for k, name in enumerate(names):
        image = _save_image(images / f"{name}{image_ext}", seed=k)
        arrays[name] = (image, _save_mask(masks / f"{name}.png", seed=k))
    return images, masks, arrays


def _read_all(ds):
    return [(image, label) for image, label in ds.as_numpy_iterator()]


def _error_of(ds):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _read_all(ds)
    return str(info.value)


def test_folders_matched_by_stem(tmp_path):
    images, masks, arrays = _make_folders(tmp_path, names=("b", "a"), image_ext=".png")
    ds = folder_dataset(str(images), str(masks), num_classes=3)
    assert ds.cardinality().numpy() == 2
    samples = _read_all(ds)
    for (image, label), name in zip(samples, ("a", "b")):  # sorted by file name
        assert image.dtype == np.float32 and image.shape == (12, 16, 3)
        assert label.dtype == np.int32 and label.shape == (12, 16)
        np.testing.assert_array_equal(image, arrays[name][0].astype(np.float32))  # PNG is lossless
        np.testing.assert_array_equal(label, arrays[name][1])


def test_list_file_relative_paths_grey_image_and_void_class(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    grey = _save_image(tmp_path / "img" / "x.bmp", mode="L")
    mask = _save_mask(tmp_path / "ann" / "x.png", values=(0, 1, 11))
    (tmp_path / "train.txt").write_text("# comment\n\nimg/x.bmp ann/x.png\n")
    (image, label), = _read_all(folder_dataset(list_file=str(tmp_path / "train.txt"), num_classes=11,
                                               void_class=11))
    np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, axis=-1).astype(np.float32))
    np.testing.assert_array_equal(label, np.where(mask == 11, 255, mask))


def test_shuffle_files_is_seeded(tmp_path):
    images, masks, _ = _make_folders(tmp_path, names=tuple("abcdefgh"))
    order = lambda ds: [label.tobytes() for _, label in _read_all(ds)]  # noqa: E731
    a = order(folder_dataset(str(images), str(masks), num_classes=3, shuffle_files=True, seed=1))
    b = order(folder_dataset(str(images), str(masks), num_classes=3, shuffle_files=True, seed=1))
    plain = order(folder_dataset(str(images), str(masks), num_classes=3))
    assert a == b and sorted(a) == sorted(plain) and a != plain


# Errors found when the dataset is built.

def test_error_missing_masks_dir(tmp_path):
    images, _, _ = _make_folders(tmp_path)
    with pytest.raises(FileNotFoundError, match="masks_dir.*nowhere"):
        folder_dataset(str(images), str(tmp_path / "nowhere"), num_classes=3)


def test_error_image_without_mask(tmp_path):
    images, masks, _ = _make_folders(tmp_path)
    _save_image(images / "lonely.jpg")
    with pytest.raises(FileNotFoundError, match="lonely.jpg"):
        folder_dataset(str(images), str(masks), num_classes=3)


def test_error_missing_list_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        folder_dataset(list_file=str(tmp_path / "missing.txt"), num_classes=3)


def test_error_list_line_with_wrong_field_count(tmp_path):
    _make_folders(tmp_path)
    (tmp_path / "list.txt").write_text("images/a.jpg masks/a.png\nimages/b.jpg\n")
    with pytest.raises(ValueError, match=r"list.txt:2: expected 2 fields"):
        folder_dataset(list_file=str(tmp_path / "list.txt"), num_classes=3)


def test_error_list_path_does_not_exist(tmp_path):
    _make_folders(tmp_path)
    (tmp_path / "list.txt").write_text("images/a.jpg masks/a.png\nimages/b.jpg masks/zzz.png\n")
    with pytest.raises(FileNotFoundError, match=r"list.txt:2: mask .*zzz.png"):
        folder_dataset(list_file=str(tmp_path / "list.txt"), num_classes=3)


def test_argument_errors(tmp_path):
    images, masks, _ = _make_folders(tmp_path)
    with pytest.raises(ValueError, match="num_classes"):
        folder_dataset(str(images), str(masks))
    with pytest.raises(ValueError, match="either list_file"):
        folder_dataset(str(images), str(masks), list_file="x.txt", num_classes=3)
    with pytest.raises(ValueError, match="ignore_class"):
        folder_dataset(str(images), str(masks), num_classes=3, ignore_class=1)


# Errors found while reading: raised by the tf.data graph, naming the file.

def test_error_undecodable_image(tmp_path):
    images, masks, _ = _make_folders(tmp_path, image_ext=".png")
    (images / "b.png").write_bytes(b"this is not an image at all")
    message = _error_of(folder_dataset(str(images), str(masks), num_classes=3))
    assert "b.png" in message and "not a PNG/JPEG/BMP/GIF image" in message


def test_error_size_mismatch(tmp_path):
    images, masks, _ = _make_folders(tmp_path)
    _save_mask(masks / "b.png", size=(10, 16))
    message = _error_of(folder_dataset(str(images), str(masks), num_classes=3))
    assert "sizes differ" in message and "b.jpg" in message and "b.png" in message


def test_error_rgb_mask(tmp_path):
    images, masks, _ = _make_folders(tmp_path)
    _save_image(masks / "a.png")  # an RGB colour mask
    message = _error_of(folder_dataset(str(images), str(masks), num_classes=3))
    assert "single-channel" in message and os.path.join("masks", "a.png") in message


def test_error_label_out_of_range(tmp_path):
    images, masks, _ = _make_folders(tmp_path)
    _save_mask(masks / "b.png", values=(0, 1, 7, 255))
    message = _error_of(folder_dataset(str(images), str(masks), num_classes=3))
    assert "b.png" in message and "num_classes=3" in message and "7" in message
    # 255 alone is the ignore value, not an error.
    _save_mask(masks / "b.png", values=(0, 1, 255))
    assert len(_read_all(folder_dataset(str(images), str(masks), num_classes=3))) == 2


def test_camvid_list_file():
    list_file = os.path.join(CAMVID, "train.txt")
    if not os.path.isfile(list_file):
        pytest.skip(f"CamVid not found at {CAMVID}")
    samples = _read_all(folder_dataset(list_file=list_file, num_classes=12).take(2))
    for image, label in samples:
        assert image.shape == (360, 480, 3) and label.shape == (360, 480)
        assert label.min() >= 0 and label.max() <= 11
    samples = _read_all(folder_dataset(list_file=list_file, num_classes=11, void_class=11).take(2))
    for _, label in samples:
        assert set(np.unique(label)) <= set(range(11)) | {255}
