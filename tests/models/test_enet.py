"""ENet: what is particular to it (the shared checks come from `ModelTester`)."""
import hashlib
import re

import keras
import numpy as np
import pytest

import kerasseg
from kerasseg.models import ENet
from tests.helpers import ModelTester, trainable_count

#: sha256 of "path shape" per variable of ENet(12), one per line in `model.variables` order, as on main at
#: 9a0446e (the spatial-dropout seed generators, numbered per process, as "seed_generator"): weights files saved
#: since then load into this ENet by name and order. Never update it to make the test pass: a change here breaks
#: every ENet checkpoint in use.
ENET_12_VARIABLES_SHA256 = "f6903e08425144cedaf564ad1d5b443ab0e445bc461bdc1b58c020045bef17d1"


class TestENet(ModelTester):
    architecture = "enet"
    size_divisor = 8
    paper = "ENet"
    num_classes = 5
    sizes = ((64, 64), (48, 80))
    export_size = (32, 32)
    skip_export_reason = ("tests/export exports ENet to every format once per session (the `bundle` fixture) and "
                          "checks parity, builtin ops and int8 there")


def test_variable_names_order_and_shapes_are_pinned():
    model = ENet(12)
    listing = "\n".join(f"{v.path} {tuple(v.shape)}" for v in model.variables)
    listing = re.sub(r"^seed_generator(_\d+)?/", "seed_generator/", listing, flags=re.M)
    assert len(model.variables) == 561
    assert hashlib.sha256(listing.encode()).hexdigest() == ENET_12_VARIABLES_SHA256, listing


def test_parameter_count_matches_paper_reference():
    model = ENet(12, input_shape=(64, 64, 3))
    trainable = trainable_count(model)
    # Per-channel PReLU as in the authors' Torch code.
    assert trainable == 356_887
    # The reference PyTorch port (davidtvs/PyTorch-ENet) uses one PReLU slope per layer: same layout otherwise.
    prelus = [layer for layer in model.layers if isinstance(layer, keras.layers.PReLU)]
    alphas = sum(int(np.prod(layer.alpha.shape)) for layer in prelus)
    assert trainable - alphas + len(prelus) == 350_652
    assert abs(trainable - 370_000) / 370_000 < 0.05  # the paper's 0.37M


def test_paper_structure():
    model = ENet(3, input_shape=(64, 64, 3))
    layer = model.get_layer
    assert layer("initial_conv").filters == 13 and layer("initial_conv").strides == (2, 2)
    assert layer("bottleneck1_0_reduce_conv").kernel_size == (2, 2)
    dilations = [layer(f"bottleneck{s}_{i}_conv_conv").dilation_rate[0]
                 for s in (2, 3) for i in (2, 4, 6, 8)]
    assert dilations == [2, 4, 8, 16] * 2
    assert layer("bottleneck2_3_asym_a_conv").kernel_size == (5, 1)
    assert layer("bottleneck2_3_asym_b_conv").kernel_size == (1, 5)
    assert layer("bottleneck1_1_dropout").rate == 0.01 and layer("bottleneck2_1_dropout").rate == 0.1
    assert not any(getattr(l, "use_bias", False) for l in model.layers if isinstance(l, keras.layers.Conv2D))
    assert isinstance(layer("bottleneck4_0_unpool"), kerasseg.layers.MaxUnpooling2D)
    assert isinstance(layer("normalize"), kerasseg.layers.ImagePreprocess) and layer("normalize").mode == "torch"


def test_enet_encoder_stage_shares_enet_layer_names_and_starts_the_full_network(tmp_path):
    """The authors' first stage: encoder + 1x1 classifier (logits resized to the input); the full ENet starts
    from it by layer name (every encoder layer copied, the decoder left as initialised)."""
    from kerasseg.utils import transfer_weights

    encoder = kerasseg.build_model("enet_encoder", 5)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    assert encoder(x).shape == (2, 64, 96, 5)
    assert encoder.get_layer("encoder_classifier").kernel.shape == (1, 1, 128, 5)
    names = {layer.name for layer in encoder.layers}
    assert "bottleneck3_8_out" in names and not any(n.startswith(("bottleneck4", "bottleneck5", "fullconv"))
                                                     for n in names)
    encoder.save(tmp_path / "encoder.keras")
    full = kerasseg.build_model("enet", 5)
    copied = transfer_weights(full, str(tmp_path / "encoder.keras"))
    with_weights = {layer.name for layer in encoder.layers if layer.weights} - {"encoder_classifier"}
    assert set(copied) == with_weights
    np.testing.assert_array_equal(full.get_layer("bottleneck2_4_conv_conv").kernel.numpy(),
                                  encoder.get_layer("bottleneck2_4_conv_conv").kernel.numpy())
    with pytest.raises(ValueError, match="other weight shapes"):
        transfer_weights(kerasseg.build_model("enet", 7), kerasseg.build_model("enet", 5))
    with pytest.raises(ValueError, match="no layer of"):
        transfer_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="other")]), encoder)


def test_variables_identical_to_plain_keras_layers(monkeypatch):
    # Compatibility promise: the fused BN / int8-friendly PReLU subclasses keep ENet's layer names, variable
    # order and shapes (and weight-file paths) exactly as an ENet built from keras.layers, and load its weights.
    import importlib

    block_module = importlib.import_module("kerasseg.layers.conv_bn_act")  # the package exports a same-named function

    ours = ENet(6, input_shape=(32, 32, 3))
    monkeypatch.setattr(block_module, "BatchNormalization", keras.layers.BatchNormalization)
    monkeypatch.setattr(block_module, "PReLU", keras.layers.PReLU)
    plain = ENet(6, input_shape=(32, 32, 3))
    assert type(plain.get_layer("initial_bn")) is keras.layers.BatchNormalization
    # Seed generators (spatial dropout) are numbered per process; every other path must match.
    path = lambda v: "seed_generator" if v.path.startswith("seed_generator") else v.path  # noqa: E731
    assert [(path(v), v.shape) for v in ours.variables] == [(path(v), v.shape) for v in plain.variables]
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    plain(x, training=True)  # move the moving statistics
    ours.set_weights(plain.get_weights())
    y_plain, y_ours = plain(x, training=False).numpy(), ours(x, training=False).numpy()
    np.testing.assert_allclose(y_ours, y_plain, rtol=1e-4, atol=1e-4 * np.abs(y_plain).max())


def test_dropout_rates_change_training_only():
    paper = ENet(4, input_shape=(32, 32, 3))
    plain = ENet(4, input_shape=(32, 32, 3), dropout_rates=(0, 0))
    assert [layer.rate for layer in paper.layers if isinstance(layer, keras.layers.SpatialDropout2D)][:6] == \
        [0.01] * 5 + [0.1]
    assert all(layer.rate == 0 for layer in plain.layers if isinstance(layer, keras.layers.SpatialDropout2D))
    # Same weights (the seed generators of the dropout layers are not weights): they load into each other.
    assert [(w.path, w.shape) for w in paper.weights] == [(w.path, w.shape) for w in plain.weights]
    plain.set_weights(paper.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(paper(x, training=False), plain(x, training=False))
    np.testing.assert_array_equal(plain(x, training=True), plain(x, training=True))  # no dropout noise


@pytest.mark.parametrize("rates", [(0.1,), (0.1, 1.0), (-0.1, 0.1), "0.1"])
def test_dropout_rates_are_checked(rates):
    with pytest.raises(ValueError, match="dropout_rates must be two rates"):
        ENet(4, dropout_rates=rates)
