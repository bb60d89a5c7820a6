import pathlib

import pytest

from kerasseg.training import ConfigError, load_config, validate_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_shipped_recipes_are_valid(monkeypatch):
    monkeypatch.setenv("KERASSEG_CAMVID_ROOT", "/data/camvid")  # recipes carry no machine-specific path
    recipes = sorted((REPO / "configs").glob("*.yaml"))
    assert recipes, "configs/ has no recipe"
    for recipe in recipes:
        assert "/work/" not in recipe.read_text(), recipe
        config = load_config(recipe)
        assert config["model"]["name"] and config["output_dir"]


def test_defaults_are_filled_and_sizes_derived():
    config = validate_config({"model": {"name": "enet"}, "data": {"crop_size": 32}})
    assert config["data"]["crop_size"] == [32, 32]
    assert config["export"]["input_size"] == [32, 32]
    assert config["train"]["poly_power"] == 0.9
    assert config["output_dir"] == str(pathlib.Path("runs") / "enet")


@pytest.mark.parametrize("recipe, message", [
    ({"model": {"name": "enet"}, "trian": {}}, "unknown key 'trian'"),
    ({"model": {"name": "enet"}, "train": {"epoch": 3}}, "unknown key 'train.epoch'"),
    ({"model": {}}, "'model.name' is required"),
    ({"model": {"name": "enet"}, "data": {"crop_size": [64]}}, "'data.crop_size' must be two positive"),
    ({"model": {"name": "enet"}, "data": {"scale_range": [2.0, 1.0]}}, "'data.scale_range'"),
    ({"model": {"name": "enet"}, "train": {"class_weighting": "median"}}, "'train.class_weighting'"),
    ({"model": {"name": "enet"}, "data": {"batch_size": 0}}, "'data.batch_size'"),
    ({"model": {"name": "enet"}, "train": {"intra_op_threads": 0}}, "'train.intra_op_threads'"),
])
def test_bad_recipes_name_the_key(recipe, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(recipe, source="r.yaml")


def test_missing_and_invalid_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: enet}\ntrain: {learning_rate: 5e-3, weight_decay: 1E-4, momentum: .9}\n")
    config = load_config(recipe)
    assert config["train"]["learning_rate"] == 5e-3 and config["train"]["weight_decay"] == 1e-4
    assert config["train"]["momentum"] == 0.9


def test_duplicate_keys_are_an_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: enet}\ntrain:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ConfigError, match=r"r.yaml: not valid YAML: .*duplicate key 'epochs'"):
        load_config(recipe)


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "steps_per_epoch", 0, "'train.steps_per_epoch' must be a positive integer, got 0"),
    ("train", "steps_per_epoch", -5, "'train.steps_per_epoch' must be a positive integer, got -5"),
    ("train", "epochs", 2.5, "'train.epochs' must be a positive integer"),
    ("train", "epochs", True, "'train.epochs' must be a positive integer, got True"),
    ("data", "flip", "false", "'data.flip' must be true or false, got 'false'"),
    ("train", "learning_rate", "5e-3x", "'train.learning_rate' must be a number > 0"),
    ("train", "optimizer", "adamw", "'train.optimizer' must be one of 'adam', 'sgd'"),
    ("train", "loss", {"dice": 1, "lovász": 1}, "'train.loss' has unknown loss 'lovász'; valid: cross_entropy, dice"),
    ("train", "loss", {"dice": 0}, "'train.loss' gives 'dice' the weight 0; weights must be numbers > 0"),
    ("train", "mixed_precision", "fp16", "'train.mixed_precision' must be false, true"),
    ("model", "num_classes", 1, "'model.num_classes' is 1, but .* a binary task has 2 classes"),
    ("export", "formats", ["onnx", "tflite"], "'export.formats' has unknown format 'tflite'; valid: savedmodel"),
    ("data", "photometric", {"brightnes": 0.1},
     "'data.photometric' has unknown option 'brightnes'; valid: brightness"),
])
def test_every_value_is_checked_with_its_key_path(section, key, value, message):
    with pytest.raises(ConfigError, match=f"r.yaml: {message}"):
        recipe = {"model": {"name": "enet"}}
        recipe.setdefault(section, {})[key] = value
        validate_config(recipe, source="r.yaml")


def test_unknown_reader_and_model_options_name_the_section():
    with pytest.raises(ConfigError, match=r"unknown option 'num_sample' in data.train for dataset 'shapes'; "
                                          r"valid: noise_std, num_samples, num_shapes, seed\."):
        validate_config({"model": {"name": "enet"}, "data": {"train": {"num_sample": 3}}}, source="r.yaml")
    with pytest.raises(ConfigError, match=r"unknown option 'backbon' in model.options for model "
                                          r"'deeplabv3plus'; valid: .*backbone"):
        validate_config({"model": {"name": "deeplabv3plus", "options": {"backbon": "x"}}}, source="r.yaml")


def test_typo_in_model_name_fails_before_any_dataset_is_read():
    with pytest.raises(ConfigError, match=r"'model.name' has unknown model 'enett'; valid: .*enet"):
        validate_config({"model": {"name": "enett"}, "data": {"dataset": "camvid", "root": "/nonexistent"}})


def test_unknown_names_are_one_error_family():
    import kerasseg
    from kerasseg import data as kdata
    from kerasseg.errors import UnknownNameError
    from kerasseg.losses import make_loss
    from kerasseg.training import make_optimizer

    for call, message in [
        (lambda: kerasseg.get_model_spec("nope"), "unknown model 'nope'; valid: "),
        (lambda: kdata.dataset_info("nope"), "unknown dataset 'nope'; valid: ade20k, camvid"),
        (lambda: make_loss("nope", 3), "unknown loss 'nope'; valid: cross_entropy"),
        (lambda: make_optimizer(1e-3, 10, optimizer="nope"), "unknown optimizer 'nope'; valid: adam, sgd"),
        (lambda: make_optimizer(1e-3, 10, lr_schedule="nope"), "unknown learning-rate schedule 'nope'"),
    ]:
        with pytest.raises(UnknownNameError, match=message) as info:
            call()
        assert isinstance(info.value, ValueError)


def test_lists_of_names_are_derived_from_one_place():
    from kerasseg import data as kdata
    from kerasseg.data.class_weights import WEIGHTINGS
    from kerasseg.export import FORMATS
    from kerasseg.losses import LOSS_CLASSES
    from kerasseg.training import config as cfg

    assert cfg.NAMED_DATASETS == tuple(kdata.DATASETS)
    assert cfg.CLASS_WEIGHTINGS == ("none",) + WEIGHTINGS
    assert cfg.EXPORT_FORMATS is FORMATS and cfg.LOSSES == tuple(LOSS_CLASSES)


def test_env_variables_and_overrides(tmp_path, monkeypatch):
    from kerasseg.training import apply_overrides

    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: enet}\ndata: {dataset: camvid, root: '${KS_TEST_ROOT}'}\n")
    monkeypatch.delenv("KS_TEST_ROOT", raising=False)
    with pytest.raises(ConfigError, match=r"'data.root' names the environment variable KS_TEST_ROOT, which is not "
                                          r"set: export KS_TEST_ROOT=... or pass --set data.root=..."):
        load_config(recipe)
    monkeypatch.setenv("KS_TEST_ROOT", "/data/camvid")
    assert load_config(recipe)["data"]["root"] == "/data/camvid"
    config = load_config(recipe, overrides=["data.root=/elsewhere", "train.learning_rate=1e-3",
                                            "data.train.seed=4", "train.loss={dice: 1, cross_entropy: 0.5}"])
    assert config["data"]["root"] == "/elsewhere" and config["train"]["learning_rate"] == 1e-3
    assert config["data"]["train"] == {"seed": 4}
    assert config["train"]["loss"] == {"dice": 1.0, "cross_entropy": 0.5}
    with pytest.raises(ConfigError, match=r"--set: unknown key 'train.lr'; valid: "):
        apply_overrides({}, ["train.lr=3"])
    with pytest.raises(ConfigError, match=r"expected KEY.PATH=VALUE"):
        apply_overrides({}, ["train.epochs"])


def test_docs_recipe_reference_is_current():
    from kerasseg.training import recipe_reference

    doc = REPO / "docs" / "recipe.md"
    assert doc.read_text() == recipe_reference(), (
        "docs/recipe.md is out of date: python -m kerasseg.training.config > docs/recipe.md")
    from kerasseg.training.config import RECIPE_KEYS

    for key in RECIPE_KEYS:
        assert f"`{key.path}`" in doc.read_text()
