"""ENet: what is particular to it (the shared checks come from `ModelTester`)."""
import hashlib
import re

import keras
import numpy as np

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
