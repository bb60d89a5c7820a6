"""Every reader on a tiny fixture that reproduces the real layout and encoding (16x24 PNG/JPEG files)."""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasseg import data as kdata
from kerasseg.data.classes import CITYSCAPES_LABEL_IDS, voc_colormap

SIZE = (16, 24)


def _image(path, seed=0, size=SIZE):
    array = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _mask(path, values, seed=0, size=SIZE, mode="L"):
    """Single-channel mask using every value of `values` at least once."""
    rng = np.random.default_rng(seed + 100)
    flat = np.concatenate([np.asarray(values), rng.choice(np.asarray(values), size[0] * size[1] - len(values))])
    array = rng.permutation(flat).reshape(size).astype(np.uint16 if mode == "I;16" else np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    (Image.fromarray(array) if mode == "I;16" else Image.fromarray(array, mode=mode)).save(path)
    return array


def _palette_mask(path, values, seed=0):
    """A palette-indexed ("P" mode) PNG with the VOC colour map, as VOC's SegmentationClass files are."""
    array = _mask(path, values, seed)
    picture = Image.fromarray(array, mode="P")
    picture.putpalette(voc_colormap(256).ravel().tolist())
    picture.save(path)
    return array


def _samples(ds):
    return list(ds.as_numpy_iterator())


def _error(ds):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _samples(ds)
    return str(info.value)


def _lookup(mapping, values):
    return np.vectorize(lambda v: mapping[int(v)])(values)


# CamVid -------------------------------------------------------------------------------------------------------

def _camvid(root, split="train", names=("0001TP_006690", "0001TP_006720"), values=tuple(range(12)), list_file=True):
    masks = {}
    for k, name in enumerate(names):
        _image(os.path.join(root, split, f"{name}.png"), seed=k)
        masks[name] = _mask(os.path.join(root, f"{split}annot", f"{name}.png"), values, seed=k)
    if list_file:
        with open(os.path.join(root, f"{split}.txt"), "w") as f:
            f.writelines(f"{split}/{n}.png {split}annot/{n}.png\n" for n in names)
    return masks


@pytest.mark.parametrize("list_file", [True, False])
def test_camvid_void_is_ignored_in_both_layouts(tmp_path, list_file):
    masks = _camvid(str(tmp_path), list_file=list_file)
    samples = _samples(kdata.camvid_dataset(str(tmp_path), "train"))
    assert len(samples) == 2
    for (image, label), mask in zip(samples, masks.values()):
        assert image.shape == SIZE + (3,) and image.dtype == np.float32 and label.dtype == np.int32
        np.testing.assert_array_equal(label, np.where(mask == 11, 255, mask))
    assert set(np.unique(samples[0][1])) == set(range(11)) | {255}


def test_camvid_value_outside_mapping_names_file(tmp_path):
    _camvid(str(tmp_path), values=(0, 3, 12))
    message = _error(kdata.camvid_dataset(str(tmp_path), "train"))
    assert "0001TP_006690.png" in message and "12" in message and "CamVid" in message


def test_camvid_missing_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="val"):
        kdata.camvid_dataset(str(tmp_path), "val")


# Pascal VOC ---------------------------------------------------------------------------------------------------

def _voc(root, ids=("2007_000032", "2007_000039")):
    masks = {}
    os.makedirs(os.path.join(root, "ImageSets", "Segmentation"))
    for k, sample_id in enumerate(ids):
        _image(os.path.join(root, "JPEGImages", f"{sample_id}.jpg"), seed=k)
        masks[sample_id] = _palette_mask(os.path.join(root, "SegmentationClass", f"{sample_id}.png"),
                                         (0, 1, 15, 20, 255), seed=k)
    for split, split_ids in (("train", ids[:1]), ("val", ids[1:]), ("trainval", ids)):
        with open(os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt"), "w") as f:
            f.writelines(i + "\n" for i in split_ids)
    return masks


def test_voc_palette_png_decodes_to_indices(tmp_path):
    masks = _voc(str(tmp_path))
    samples = _samples(kdata.voc_dataset(str(tmp_path), "trainval"))
    for (image, label), mask in zip(samples, masks.values()):
        assert image.shape == SIZE + (3,)  # JPEG image
        np.testing.assert_array_equal(label, mask)  # indices 0..20 kept, 255 (boundary) stays ignored
    assert [len(_samples(kdata.voc_dataset(str(tmp_path), s))) for s in ("train", "val")] == [1, 1]


def test_voc_trainaug_grey_masks_and_pair_lines(tmp_path):
    root = str(tmp_path)
    _voc(root)
    aug = _mask(os.path.join(root, "SegmentationClassAug", "2007_000032.png"), (0, 7, 255))
    aug2 = _mask(os.path.join(root, "SegmentationClassAug", "2007_000039.png"), (0, 9), seed=1)
    with open(os.path.join(root, "ImageSets", "Segmentation", "trainaug.txt"), "w") as f:
        f.write("2007_000032\n/JPEGImages/2007_000039.jpg /SegmentationClassAug/2007_000039.png\n")
    labels = [label for _, label in _samples(kdata.voc_dataset(root, "trainaug"))]
    np.testing.assert_array_equal(labels[0], aug)
    np.testing.assert_array_equal(labels[1], aug2)


def test_voc_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    _voc(root)
    bad = os.path.join(root, "SegmentationClass", "2007_000039.png")
    _palette_mask(bad, (0, 21))  # index 21 is not a VOC class
    message = _error(kdata.voc_dataset(root, "val"))
    assert "2007_000039.png" in message and "21" in message and "VOC" in message
    # An RGB mask whose colours are not in the VOC colour map.
    Image.fromarray(np.full(SIZE + (3,), 7, np.uint8)).save(bad)
    message = _error(kdata.voc_dataset(root, "val"))
    assert "2007_000039.png" in message and "colours not in the VOC colour map" in message and "7" in message


# Cityscapes ---------------------------------------------------------------------------------------------------

def _cityscapes(root, split="val", label_type="labelIds", values=None):
    values = values if values is not None else [label_id for _, label_id, _ in CITYSCAPES_LABEL_IDS]
    masks = []
    for k, (city, stem) in enumerate((("frankfurt", "frankfurt_000000_000294"),
                                      ("lindau", "lindau_000000_000019"))):
        _image(os.path.join(root, "leftImg8bit", split, city, f"{stem}_leftImg8bit.png"), seed=k)
        masks.append(_mask(os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_{label_type}.png"), values,
                           seed=k))
        # The other gtFine files of the real layout must not confuse the reader.
        _mask(os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_instanceIds.png"), (0, 1), seed=k)
    return masks


def test_cityscapes_label_ids_map_to_train_ids(tmp_path):
    masks = _cityscapes(str(tmp_path))
    samples = _samples(kdata.cityscapes_dataset(str(tmp_path), "val"))
    assert len(samples) == 2
    for (_, label), mask in zip(samples, masks):
        np.testing.assert_array_equal(label, _lookup(kdata.CITYSCAPES_ID_TO_TRAIN_ID, mask))
    label, mask = samples[0][1], masks[0]
    assert np.all(label[mask == 7] == 0) and np.all(label[mask == 26] == 13) and np.all(label[mask == 33] == 18)
    assert np.all(label[mask == 0] == 255) and np.all(label[mask == 9] == 255)  # unlabeled, parking
    assert set(np.unique(label)) == set(range(19)) | {255}


def test_cityscapes_train_ids_and_errors(tmp_path):
    masks = _cityscapes(str(tmp_path), label_type="labelTrainIds", values=list(range(19)) + [255])
    samples = _samples(kdata.cityscapes_dataset(str(tmp_path), "val", label_type="labelTrainIds"))
    np.testing.assert_array_equal(samples[1][1], masks[1])
    with pytest.raises(FileNotFoundError, match="frankfurt_000000_000294_leftImg8bit.png"):
        kdata.cityscapes_dataset(str(tmp_path), "val")  # no labelIds files
    _cityscapes(str(tmp_path), values=(7, 34))
    message = _error(kdata.cityscapes_dataset(str(tmp_path), "val"))
    assert "frankfurt_000000_000294_gtFine_labelIds.png" in message and "34" in message


# ADE20K -------------------------------------------------------------------------------------------------------

def test_ade20k_zero_ignored_rest_shifted(tmp_path):
    root = str(tmp_path)
    _image(os.path.join(root, "images", "validation", "ADE_val_00000001.jpg"))
    mask = _mask(os.path.join(root, "annotations", "validation", "ADE_val_00000001.png"), (0, 1, 2, 150))
    (image, label), = _samples(kdata.ade20k_dataset(root, "val"))
    np.testing.assert_array_equal(label, np.where(mask == 0, 255, mask.astype(np.int32) - 1))
    assert kdata.ADE20K_CLASSES[label[mask == 1][0]] == "wall" and label[mask == 150][0] == 149
    _mask(os.path.join(root, "annotations", "validation", "ADE_val_00000001.png"), (0, 151))
    assert "ADE_val_00000001.png" in (message := _error(kdata.ade20k_dataset(root, "validation")))
    assert "151" in message


# Folders: colour masks, 16-bit masks --------------------------------------------------------------------------

def test_colour_masks_through_a_user_palette(tmp_path):
    palette = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)
    index = _mask(str(tmp_path / "masks" / "a.png"), (0, 1, 2, 3))
    rgb = np.concatenate([palette, np.zeros((1, 3), np.uint8)])[index]  # index 3 -> black, listed as an ignore colour
    Image.fromarray(rgb).save(tmp_path / "masks" / "a.png")
    _image(str(tmp_path / "images" / "a.jpg"))
    ds = kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), palette=palette,
                              ignore_colours=[[0, 0, 0]])
    (_, label), = _samples(ds)
    np.testing.assert_array_equal(label, np.where(index == 3, 255, index))
    # A colour outside the palette is an error naming the file and the colour.
    message = _error(kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), palette=palette))
    assert "a.png" in message and "colours not in the given palette" in message and "[0 0 0]" in message
    # The same mask read as an index mask: refused as an RGB mask.
    message = _error(kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), num_classes=3))
    assert "a.png" in message and "RGB(A) colour mask where a single-channel index mask is expected" in message


def test_16_bit_index_masks(tmp_path):
    _image(str(tmp_path / "images" / "a.png"))
    mask = _mask(str(tmp_path / "masks" / "a.png"), (0, 299, 1000), mode="I;16")
    (_, label), = _samples(kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"),
                                                num_classes=300, ignore_class=1000))
    np.testing.assert_array_equal(label, mask.astype(np.int32))


def test_dataset_catalog():
    assert {"camvid", "voc", "cityscapes", "ade20k"} <= set(kdata.DATASETS)
    for name, info in kdata.DATASETS.items():
        assert info.palette.shape == (info.num_classes, 3) and info.palette.dtype == np.uint8, name
        assert len(set(info.class_names)) == info.num_classes, name
    assert [kdata.dataset_info(n).num_classes for n in ("camvid", "voc", "cityscapes", "ade20k")] == [11, 21, 19,
                                                                                                       150]
    assert len(np.unique(voc_colormap(256), axis=0)) == 256  # palette colours map back to indices exactly
    with pytest.raises(ValueError, match="unknown dataset"):
        kdata.dataset_info("kitti")
