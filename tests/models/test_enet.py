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
