"""SFNet on the smallest encoder (ResNet-18, deep stem); ResNet-50/101 are built in the slow tests only."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasseg
from kerasseg.layers import FlowWarp
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.models import SFNet, inference_model
from kerasseg.models.auxiliary import auxiliary_losses, output_names, repeat_labels


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def sfnet_dynamic():
    keras.utils.set_random_seed(0)
    return SFNet(5)


def test_registered_and_built_through_registry():
    assert "sfnet" in kerasseg.list_models()
    assert kerasseg.get_model_spec("sfnet").size_divisor == 32
    model = kerasseg.build_model("sfnet", 3, input_shape=(64, 96, 3))
    assert model.name == "sfnet" and model.output_shape == (None, 64, 96, 3)


@pytest.mark.parametrize("size", [(64, 64), (96, 64)])
def test_logits_at_input_resolution(sfnet_dynamic, size):
    out = sfnet_dynamic(np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype(np.float32))
    assert out.shape == (2, *size, 5)
    assert np.isfinite(out.numpy()).all()


def test_unknown_height_width_inside_tf_function(sfnet_dynamic):
    fn = tf.function(lambda x: sfnet_dynamic(x, training=False),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([1, 32, 96, 3])).shape == (1, 32, 96, 5)
    assert fn(tf.zeros([3, 128, 64, 3])).shape == (3, 128, 64, 5)


def test_parameter_count_matches_reference():
    model = SFNet(19, input_shape=(64, 64, 3))
    # The reference code's SFNet-ResNet-18 (deep stem, FPN width 128) for 19 classes: 12.87M parameters
    # (PyTorch counts exclude BN running statistics, so do the trainable weights here).
    assert trainable_count(model) == 12_869_715
    assert abs(trainable_count(model) - 12.87e6) / 12.87e6 < 0.001


def test_reference_structure():
    model = SFNet(4, input_shape=(64, 64, 3))
    layer = model.get_layer
    for stride in (16, 8, 4):
        assert isinstance(layer(f"fam{stride}_warp"), FlowWarp)
        assert layer(f"fam{stride}_down_low").filters == layer(f"fam{stride}_down_high").filters == 64
        assert layer(f"fam{stride}_flow").filters == 2 and layer(f"fam{stride}_flow").kernel_size == (3, 3)
        assert layer(f"fpn_lateral{stride}_conv").filters == 128
    # The un-reduced high-level map is warped: the warp's feature input is the previous FPN level (128 wide).
    assert layer("fam8_warp").input[0].shape[-1] == 128
    assert [layer(f"ppm_pool{b}").bins for b in (1, 2, 3, 6)] == [1, 2, 3, 6]
    assert layer("fuse_concat").output.shape[-1] == 4 * 128
    with pytest.raises(ValueError):
        layer("aux4_classifier")


@pytest.mark.parametrize("kwargs, match", [
    ({"backbone": "vgg16"}, "backbone must be one of"),
    ({"input_shape": (48, 64, 3)}, "multiple of 32"),
    ({"input_shape": (64, 64, 1)}, "height, width, 3"),
    ({"num_classes": 0}, "num_classes"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SFNet(**{"num_classes": 3, **kwargs})


def test_keras_round_trip_in_fresh_process(tmp_path, fresh_python):
    model = SFNet(4, input_shape=(None, None, 3))
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model(x, training=False).numpy())
    model.save(tmp_path / "sfnet.keras")
    out = fresh_python(
        "import numpy as np, keras, kerasseg\n"
        f"m = keras.saving.load_model({str(tmp_path / 'sfnet.keras')!r})\n"
        f"y = m(np.load({str(tmp_path / 'x.npy')!r}), training=False).numpy()\n"
        f"print(float(np.abs(y - np.load({str(tmp_path / 'y.npy')!r})).max()))\n"
    )
    assert float(out.strip().splitlines()[-1]) < 1e-5


@pytest.fixture(scope="module")
def overfit_with_auxiliary_heads():
    """SFNet with deep supervision, overfit on one shapes batch with model.fit; returns (model, images, losses)."""
    images, labels = next(iter(kerasseg.data.shapes_dataset(2, image_size=(64, 64), seed=3).batch(2)))
    num_classes = len(kerasseg.data.SHAPES_CLASSES)
    keras.utils.set_random_seed(1)
    model = SFNet(num_classes, input_shape=(64, 64, 3), auxiliary_heads=True)
    losses, loss_weights = auxiliary_losses(model, SegmentationCrossEntropy(num_classes), aux_loss_weight=0.4)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=losses, loss_weights=loss_weights,
                  jit_compile=False)
    data = tf.data.Dataset.from_tensors((images, labels)).map(repeat_labels(model))
    before = model.evaluate(data, verbose=0, return_dict=True)
    model.fit(data.repeat(), steps_per_epoch=40, epochs=1, verbose=0)
    after = model.evaluate(data, verbose=0, return_dict=True)
    return model, images.numpy(), labels.numpy(), before, after


def test_auxiliary_heads_train_with_fit_and_drop_for_export(overfit_with_auxiliary_heads):
    model, images, labels, before, after = overfit_with_auxiliary_heads
    assert output_names(model) == ["logits", "aux_16", "aux_4", "aux_8"]
    assert after["logits_loss"] < 0.3 * before["logits_loss"], (before, after)
    assert after["loss"] < 0.3 * before["loss"], (before, after)
    deploy = inference_model(model)
    assert deploy.name == "sfnet" and len(deploy.outputs) == 1
    np.testing.assert_allclose(deploy(images).numpy(), model(images)["logits"].numpy(), atol=1e-5)
    # The auxiliary heads add parameters only to the training model.
    assert trainable_count(deploy) == trainable_count(SFNet(len(kerasseg.data.SHAPES_CLASSES)))
    assert np.mean(deploy(images).numpy().argmax(-1) == labels) > 0.8


def test_tflite_fp32_parity_on_trained_weights(overfit_with_auxiliary_heads, tmp_path):
    from kerasseg.export import assert_builtin_ops_only, export_model

    model, images, _, _, _ = overfit_with_auxiliary_heads
    deploy = inference_model(model)
    result = export_model(deploy, tmp_path, formats=["tflite-fp32"], input_size=(64, 64), parity_images=images)
    (row,) = result["parity"]
    assert row["passed"] and row["max_abs_diff"] <= 1e-4, row
    assert "GATHER" in assert_builtin_ops_only(result["artifacts"]["tflite-fp32"])
