"""Bad data: each problem raises an error naming the file, or with on_error="skip" is skipped and reported."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasseg import data as kdata


def _write(folder, name, image=True, size=(8, 12), values=(0, 1, 2), seed=0):
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    if image:
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(folder / "images" / f"{name}.png")
    mask = rng.choice(np.asarray(values, np.uint8), size=size)
    Image.fromarray(mask, mode="L").save(folder / "masks" / f"{name}.png")


@pytest.fixture
def bad_folder(tmp_path):
    """Six samples: two good ones and one of each problem."""
    _write(tmp_path, "a_good")
    _write(tmp_path, "b_truncated")
    data = (tmp_path / "images" / "b_truncated.png").read_bytes()
    (tmp_path / "images" / "b_truncated.png").write_bytes(data[: len(data) // 2])  # valid header, cut body
    _write(tmp_path, "c_size")
    _write(tmp_path, "c_size", image=False, size=(9, 12))
    _write(tmp_path, "d_rgb_mask")
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(tmp_path / "masks" / "d_rgb_mask.png")
    _write(tmp_path, "e_range", values=(0, 9))
    _write(tmp_path, "f_good", seed=1)
    return tmp_path


def test_skip_counts_and_reports_every_bad_file(bad_folder):
    skipped = kdata.SkippedSamples()
    ds = kdata.folder_dataset(str(bad_folder / "images"), str(bad_folder / "masks"), num_classes=3,
                              on_error="skip", skipped=skipped, with_file_names=True)
    names = [name.decode() for _, _, name in ds.as_numpy_iterator()]
    assert [n.rsplit("/", 1)[-1] for n in names] == ["a_good.png", "f_good.png"]
    assert skipped.count == 4
    problems = dict(zip(["b", "c", "d", "e"], skipped.problems))  # in file order
    assert "b_truncated.png: cannot be decoded" in problems["b"]
    assert "sizes differ" in problems["c"] and "8x12" in problems["c"] and "9x12" in problems["c"]
    assert "d_rgb_mask.png" in problems["d"] and "single-channel" in problems["d"]
    assert "e_range.png" in problems["e"] and "9" in problems["e"]
    report = skipped.report()
    assert report.startswith("Skipped 4 bad sample(s)") and "e_range.png" in report


def test_raise_names_a_truncated_and_a_deleted_file(bad_folder):
    ds = kdata.folder_dataset(str(bad_folder / "images"), str(bad_folder / "masks"), num_classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="b_truncated.png: cannot be decoded"):
        list(ds)
    (bad_folder / "masks" / "a_good.png").unlink()  # gone after the dataset was built
    with pytest.raises(tf.errors.InvalidArgumentError, match="a_good.png: cannot be read"):
        list(ds)


def test_mask_encoding_problems(tmp_path):
    _write(tmp_path, "a")
    Image.fromarray(np.zeros((8, 12), np.uint8), mode="L").save(tmp_path / "masks" / "a.png")
    ok = kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), num_classes=3)
    assert len(list(ok)) == 1
    for save, expected in [
        (lambda p: Image.fromarray(np.zeros((8, 12), np.uint8), mode="L").convert("1").save(p), "bit depth 1"),
        (lambda p: Image.fromarray(np.zeros((8, 12), np.uint8), mode="L").convert("P").save(p), "palette PNG"),
        (lambda p: Image.fromarray(np.zeros((8, 12, 2), np.uint8), mode="LA").save(p), r"grey\+alpha"),
        (lambda p: p.write_bytes((tmp_path / "images" / "a.png").read_bytes()[:0] + b"\xff\xd8\xff\xe0junk"),
         "JPEG mask refused"),
    ]:
        save(tmp_path / "masks" / "a.png")
        ds = kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), num_classes=3)
        with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
            list(ds)


def test_on_error_argument_is_checked(tmp_path):
    _write(tmp_path, "a")
    with pytest.raises(ValueError, match="on_error"):
        kdata.folder_dataset(str(tmp_path / "images"), str(tmp_path / "masks"), num_classes=3, on_error="ignore")
