import keras
import numpy as np
import pytest

import kerasseg
from kerasseg.segmentation_model import SegmentationModel
from tests.helpers import random_images, run_python


@pytest.fixture(scope="module")
def enet():
    return kerasseg.build_model("enet", 3, name="street_enet")


def test_classes_and_palette_travel_with_the_keras_file(enet, tmp_path):
    enet.set_classes(["road", "car", "sky"], palette=[[128, 64, 128], [0, 0, 142], [70, 130, 180]])
    path = tmp_path / "renamed.keras"
    enet.save(path)
    out = run_python(
        "import keras, kerasseg\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        "print(m.name, m.spec['architecture'], kerasseg.registry.size_divisor(m), m.class_names, "
        "m.palette.tolist(), m.spec['builder_arguments'])\n")
    assert out.strip().splitlines()[-1] == (
        "street_enet enet 8 ['road', 'car', 'sky'] [[128, 64, 128], [0, 0, 142], [70, 130, 180]] "
        "{'num_classes': 3, 'input_shape': [None, None, 3], 'dropout_rates': [0.01, 0.1], 'name': 'street_enet'}")


def test_spec_rebuilds_the_same_network(enet):
    spec = enet.spec
    again = kerasseg.build_model(spec["architecture"], **spec["builder_arguments"])
    assert [(v.path, tuple(v.shape)) for v in again.weights if "seed" not in v.path] == [
        (v.path, tuple(v.shape)) for v in enet.weights if "seed" not in v.path]


def test_set_classes_checks_counts(enet):
    with pytest.raises(ValueError, match="class_names has 2 names; model 'street_enet' has 3 classes"):
        enet.set_classes(["road", "car"])
    with pytest.raises(ValueError, match=r"palette must be 3 RGB colours"):
        enet.set_classes(["a", "b", "c"], palette=[[0, 0, 0]])


def test_wrong_size_is_named_not_a_concat_failure(enet):
    """Issue 12: ENet at 65x65 with a dynamic input."""
    with pytest.raises(ValueError, match="height 65 is not a multiple of 8"):
        enet(random_images((65, 65)))
    assert enet(random_images((64, 72))).shape == (1, 64, 72, 3)


def test_inference_model_keeps_the_spec():
    from kerasseg.models import inference_model

    image = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(2, 1)(image)
    model = SegmentationModel(image, {"logits": logits, "aux": keras.layers.Conv2D(2, 1)(image)}, name="m",
                              spec={"architecture": "toy", "size_divisor": 4})
    deploy = inference_model(model)
    assert isinstance(deploy, SegmentationModel) and deploy.spec == model.spec and deploy.size_divisor == 4
    assert np.allclose(deploy(random_images((8, 8))), model(random_images((8, 8)))["logits"])
    with pytest.raises(ValueError, match="unknown keys"):
        SegmentationModel(image, logits, spec={"divisor": 4})
