import pytest

import kerasseg
from kerasseg.registry import register_model


def test_list_and_unknown_model():
    assert kerasseg.list_models() == sorted(kerasseg.list_models())
    with pytest.raises(KeyError, match="unknown model 'nope'; valid: .*enet"):
        kerasseg.build_model("nope", 3)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_model("enet")(lambda num_classes, input_shape: None)
