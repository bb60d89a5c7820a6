import pathlib

import kerasseg
from kerasseg.training import load_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_deeplabv3plus_mobilenetv2_recipe_builds_its_model():
    config = load_config(REPO / "configs" / "deeplabv3plus_mobilenetv2_shapes_64x64.yaml")
    assert config["model"]["name"] == "deeplabv3plus"
    assert config["model"]["options"]["backbone"] == "mobilenetv2"
    height, width = config["data"]["crop_size"]
    model = kerasseg.build_model(config["model"]["name"], 6, input_shape=(height, width, 3),
                                 **config["model"]["options"])
    assert model.output_shape == (None, height, width, 6)
    assert config["export"]["input_size"] == [height, width]
