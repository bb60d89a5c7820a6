"""The registry, and a toy architecture registered here that runs the whole `ModelTester` harness."""
import keras
import numpy as np
import pytest

import kerasseg
from kerasseg.errors import UnknownNameError
from kerasseg.layers import ImagePreprocess, conv_bn_act, segmentation_head
from kerasseg.models._inputs import check_model_arguments
from kerasseg.registry import register_model, size_divisor, unregister_model
from tests.helpers import ModelTester, random_images


def test_list_and_unknown_model():
    assert kerasseg.list_models() == sorted(kerasseg.list_models())
    with pytest.raises(UnknownNameError, match="unknown model 'nope'; valid: .*enet") as error:
        kerasseg.build_model("nope", 3)
    assert isinstance(error.value, ValueError) and isinstance(error.value, KeyError)
    assert error.value.valid == tuple(kerasseg.list_models())


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_model("enet")(lambda num_classes, input_shape: None)


def test_renamed_model_keeps_its_divisor_for_export(tmp_path):
    """An ENet named "city_enet": the SavedModel pads to 8 and crops back, the TFLite size is checked."""
    from kerasseg.export import export_savedmodel, export_tflite
    from kerasseg.export.savedmodel import load_serving_fn

    model = kerasseg.build_model("enet", 4, name="city_enet")
    assert model.name == "city_enet" and size_divisor(model) == 8
    serve = load_serving_fn(export_savedmodel(model, tmp_path))
    image = random_images((60, 70))
    outputs = serve(image=image)
    assert outputs["logits"].shape == (1, 60, 70, 4)
    padded = np.pad(image, [(0, 0), (0, 4), (0, 2), (0, 0)])
    np.testing.assert_allclose(outputs["logits"].numpy(), model(padded).numpy()[:, :60, :70], atol=1e-4)
    with pytest.raises(ValueError, match="multiple.* of 8"):
        export_tflite(model, tmp_path / "city_enet.tflite", input_size=(60, 64))


def test_plain_functional_model_of_a_registered_name_gets_its_divisor():
    """`.keras` files saved before models carried their spec load as plain functional models named "enet"."""
    model = kerasseg.build_model("enet", 3)
    plain = keras.Model(model.input, model.output, name="enet")
    assert size_divisor(plain) == 8
    assert size_divisor(keras.Model(model.input, model.output, name="mine")) == 1


def toy_segmenter(num_classes, input_shape=(None, None, 3), width=8, name="toy_segmenter"):
    """A two-conv network (stride 2): the smallest model that goes through the harness."""
    input_shape = check_model_arguments("toy_segmenter", num_classes, input_shape, 2)
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}.")
    image = keras.Input(input_shape, name="image")
    x = ImagePreprocess("tf", name="normalize")(image)
    x = conv_bn_act(x, width, 3, "down", strides=2)
    x = conv_bn_act(x, width, 3, "mix", separable=True)
    return keras.Model(image, segmentation_head(x, num_classes, image, dropout_rate=0.1), name=name)


class TestToySegmenter(ModelTester):
    """A toy architecture registered by this test: `register_model` + builder + this subclass run every check."""

    architecture = "toy_segmenter"
    size_divisor = 2
    paper = "kerasseg test"
    num_classes = 3
    build_kwargs = {"width": 4}
    sizes = ((16, 16), (24, 32))
    bad_arguments = [({"width": 0}, "width must be >= 1")]
    export_size = (16, 16)

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def registered(cls):
        register_model(cls.architecture, size_divisor=cls.size_divisor, paper="kerasseg test")(toy_segmenter)
        yield
        unregister_model(cls.architecture)
