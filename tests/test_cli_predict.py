"""`kerasseg predict` for the four model formats (one code path) and `kerasseg evaluate --tile/--scales/--flip`."""
import numpy as np
import pytest
from PIL import Image

from kerasseg.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny 3-class model as .keras, SavedModel, fixed-size .tflite and dynamic .onnx, and three images."""
    import keras

    from kerasseg.export import export_onnx, export_savedmodel, export_tflite

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(x), name="tiny")
    root = tmp_path_factory.mktemp("predict")
    paths = {"keras": str(root / "tiny.keras")}
    model.save(paths["keras"])
    paths["savedmodel"] = export_savedmodel(model, root)
    paths["tflite"] = export_tflite(model, root / "tiny_fp32.tflite", input_size=(32, 32))
    paths["onnx"] = export_onnx(model, root / "tiny.onnx")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (32, 32)), ("b.jpg", (45, 61)), ("c.png", (20, 70))):
        Image.fromarray(rng.integers(0, 256, (*shape, 3)).astype(np.uint8)).save(images / name)
    return {"model": model, "paths": paths, "images": images, "root": root}


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
def test_predict_writes_palette_masks_and_overlays(exported, fmt, capsys):
    out = exported["root"] / f"out_{fmt}"
    assert main(["predict", exported["paths"][fmt], str(exported["images"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 image(s)" in printed and "3/3" in printed  # the progress bar reached the end
    for stem, shape in (("a", (32, 32)), ("b", (45, 61)), ("c", (20, 70))):
        mask = Image.open(out / f"{stem}_mask.png")
        assert mask.mode == "P" and mask.size == (shape[1], shape[0])
        assert len(mask.getpalette()) >= 9
        overlay = Image.open(out / f"{stem}_overlay.png")
        assert overlay.mode == "RGB" and overlay.size == mask.size
        classes = np.asarray(mask)
        assert classes.max() < 3
        image = np.asarray(Image.open(exported["images"] / f"{stem}.{'jpg' if stem == 'b' else 'png'}"), np.float32)
        expected = exported["model"](image[None]).numpy()[0].argmax(-1)
        # The fixed-size .tflite resizes to its 32x32 input and back; the others run at the image's size.
        bar = 0.999 if fmt != "tflite" or stem == "a" else 0.5
        assert np.mean(classes == expected) >= bar, (fmt, stem)


def test_predict_glob_single_file_and_tiles(exported, capsys):
    out = exported["root"] / "out_glob"
    assert main(["predict", exported["paths"]["keras"], str(exported["images"] / "*.png"), "--out", str(out),
                 "--tile", "16", "--tile-overlap", "4", "--flip", "--scales", "0.75", "1.0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png", "a_overlay.png", "c_mask.png", "c_overlay.png"]
    out = exported["root"] / "out_one"
    assert main(["predict", exported["paths"]["tflite"], str(exported["images"] / "b.jpg"), "--out", str(out),
                 "--tile", "model"]) == 0
    assert Image.open(out / "b_mask.png").size == (61, 45)


def test_predict_names_bad_inputs(exported):
    with pytest.raises(SystemExit, match="no images match"):
        main(["predict", exported["paths"]["keras"], str(exported["images"] / "*.gif"), "--out", "x"])
    with pytest.raises(SystemExit, match="none.png"):
        main(["predict", exported["paths"]["keras"], str(exported["images"] / "none.png"), "--out", "x"])
    with pytest.raises(SystemExit, match="model not found: .*missing.keras"):
        main(["predict", str(exported["root"] / "missing.keras"), str(exported["images"]), "--out", "x"])
    with pytest.raises(SystemExit, match="unknown model format '.h5'"):
        (exported["root"] / "m.h5").write_bytes(b"x")
        main(["predict", str(exported["root"] / "m.h5"), str(exported["images"]), "--out", "x"])
    with pytest.raises(SystemExit, match="tile_size must be that size"):
        main(["predict", exported["paths"]["tflite"], str(exported["images"]), "--out", str(exported["root"] / "y"),
              "--tile", "16"])


@pytest.mark.slow  # three evaluations of ENet on the shapes recipe
def test_evaluate_with_tiles_flip_and_scales(tmp_path, capsys):
    import keras
    import yaml

    import kerasseg

    recipe = yaml.safe_load(open("configs/enet_shapes_64x64.yaml"))
    recipe["data"]["val"] = {"num_samples": 3, "seed": 2}
    recipe["data"]["train"] = {"num_samples": 3, "seed": 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(recipe))
    keras.utils.set_random_seed(0)
    kerasseg.build_model("enet", 6, input_shape=(None, None, 3)).save(tmp_path / "m.keras")
    assert main(["evaluate", str(tmp_path / "m.keras")]) == 0
    plain = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "m.keras")] + ["--scales", "1.0"] + ["--tile", "64"]) == 0
    # A 64-pixel tile covers the 64x64 shapes images: the per-image path gives the batched path's mIoU.
    tiled = capsys.readouterr().out
    mean = [line for line in plain.splitlines() if line.startswith("mean")]
    assert mean and mean == [line for line in tiled.splitlines() if line.startswith("mean")]
    assert main(["evaluate", str(tmp_path / "m.keras"), "--tile", "32", "--flip", "--scales", "0.5", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "tile 32, scales [0.5, 1.0], flip True" in out and "mean" in out
