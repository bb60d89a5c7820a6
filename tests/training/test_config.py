import pathlib

import pytest

from kerasseg.training import ConfigError, load_config, validate_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_shipped_recipes_are_valid(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASSEG_CAMVID_ROOT", str(tmp_path))
    recipes = sorted((REPO / "configs").glob("*.yaml"))
    assert recipes, "configs/ has no recipe"
    for recipe in recipes:
        config = load_config(recipe)
        assert config["model"]["name"] and config["output_dir"]


def test_dataset_root_from_the_environment(monkeypatch, tmp_path):
    recipe = {"model": {"name": "enet"}, "data": {"dataset": "camvid", "root": "${KERASSEG_TEST_ROOT}/camvid"}}
    monkeypatch.delenv("KERASSEG_TEST_ROOT", raising=False)
    with pytest.raises(ConfigError, match="'data.root' uses \\$\\{KERASSEG_TEST_ROOT\\}, but the environment "
                                          "variable KERASSEG_TEST_ROOT is not set"):
        validate_config(recipe)
    monkeypatch.setenv("KERASSEG_TEST_ROOT", str(tmp_path))
    assert validate_config(recipe)["data"]["root"] == f"{tmp_path}/camvid"


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
