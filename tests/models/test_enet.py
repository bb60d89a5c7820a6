import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.models import ENet
from tests.conftest import keras_round_trip


@pytest.fixture(scope="module")
def enet_dynamic():
    return ENet(5)


def test_registered_and_built_through_registry():
    assert "enet" in kerasseg.list_models()
    model = kerasseg.build_model("enet", 4, input_shape=(64, 64, 3))
    assert model.name == "enet" and model.output_shape == (None, 64, 64, 4)
    assert kerasseg.get_model_spec("enet").size_divisor == 8


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_logits_at_input_resolution(enet_dynamic, size):
    out = enet_dynamic(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype(np.float32))
    assert out.shape == (2, *size, 5)
    assert np.isfinite(out.numpy()).all()


def test_unknown_height_width_inside_tf_function(enet_dynamic):
    fn = tf.function(lambda x: enet_dynamic(x, training=False),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([1, 32, 56, 3])).shape == (1, 32, 56, 5)
    assert fn(tf.zeros([2, 72, 40, 3])).shape == (2, 72, 40, 5)


def test_parameter_count_matches_paper_reference():
    model = ENet(12, input_shape=(64, 64, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
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


@pytest.mark.parametrize("shape", [(60, 64, 3), (64, 66, 3), (64, 64, 1)])
def test_bad_input_shape_is_rejected(shape):
    with pytest.raises(ValueError, match="multiple of 8|height, width, 3"):
        ENet(3, input_shape=shape)


def test_keras_round_trip_in_fresh_process(tmp_path):
    model = ENet(4, input_shape=(None, None, 3))
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 48, 3)).astype(np.float32)
    assert keras_round_trip(model, x, tmp_path) < 1e-5


def test_variables_identical_to_plain_keras_layers(monkeypatch):
    # Compatibility promise: the fused BN / int8-friendly PReLU subclasses keep ENet's layer names, variable
    # order and shapes (and weight-file paths) exactly as an ENet built from keras.layers, and load its weights.
    import kerasseg.models.enet as enet_module

    ours = ENet(6, input_shape=(32, 32, 3))
    monkeypatch.setattr(enet_module, "BatchNormalization", keras.layers.BatchNormalization)
    monkeypatch.setattr(enet_module, "PReLU", keras.layers.PReLU)
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
