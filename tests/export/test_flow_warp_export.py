"""The warp's export paths on a tiny FAM model: TFLite fp32 / selective int8, ONNX and SavedModel at any size."""
import numpy as np
import pytest

SIZE = (64, 64)


@pytest.fixture(scope="module")
def fam_model():
    import keras

    from kerasseg.layers import flow_alignment_module

    keras.utils.set_random_seed(0)
    image = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    low = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="low")(x)
    high = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="high")(low)
    fused = flow_alignment_module(low, high, "fam")
    model = keras.Model(image, keras.layers.Conv2D(4, 1, name="cls")(fused), name="tiny_fam")
    # Flows of a few pixels, as a trained FAM predicts (random init gives near-zero ones).
    flow = model.get_layer("fam_flow")
    flow.kernel.assign(np.random.default_rng(0).normal(scale=1.0, size=flow.kernel.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def images():
    # Smooth images (blurred noise), so that the flow moves samples between correlated pixels.
    rng = np.random.default_rng(1)
    coarse = rng.uniform(0, 255, (8, 8, 8, 3)).astype(np.float32)
    import tensorflow as tf

    return tf.image.resize(coarse, SIZE).numpy()


def test_flow_is_a_few_pixels(fam_model, images):
    import keras

    flow = keras.Model(fam_model.input, fam_model.get_layer("fam_flow").output)(images).numpy()
    assert 0.5 < np.percentile(np.abs(flow), 99) < 10


def test_tflite_fp32_builtin_and_exact(fam_model, images, tmp_path):
    from kerasseg.export.tflite import assert_builtin_ops_only, convert_tflite, run_tflite

    flatbuffer = convert_tflite(fam_model, "fp32", input_size=SIZE)
    ops = assert_builtin_ops_only(flatbuffer)
    assert "GATHER" in ops and "FLOOR" in ops
    path = tmp_path / "m.tflite"
    path.write_bytes(flatbuffer)
    np.testing.assert_allclose(run_tflite(path, images), fam_model(images).numpy(), atol=1e-4)


def _types_of(flatbuffer, op_name):
    from kerasseg.export.tflite import _schema

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    found = set()
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if names[max(code.builtinCode, code.deprecatedBuiltinCode)] == op_name:
            found.add(types[graph.tensors[op.inputs[0]].type])
    return found


def test_int8_keeps_the_warp_float_and_agrees(fam_model, images, tmp_path):
    from kerasseg.export.tflite import assert_builtin_ops_only, export_tflite, float_layer_names, run_tflite

    assert float_layer_names(fam_model) == ["fam_warp"]
    reference = fam_model(images).numpy().argmax(-1)
    agreement = {}
    for label, float_layers in (("selective", None), ("full", ())):
        path = export_tflite(fam_model, tmp_path / f"{label}.tflite", "int8", input_size=SIZE,
                             representative_images=list(images), float_layers=float_layers)
        flatbuffer = open(path, "rb").read()
        assert_builtin_ops_only(flatbuffer)
        assert _types_of(flatbuffer, "CONV_2D") == {"INT8"}
        if label == "selective":
            assert _types_of(flatbuffer, "GATHER") == {"FLOAT32"} and _types_of(flatbuffer, "FLOOR") == {"FLOAT32"}
        else:
            assert _types_of(flatbuffer, "GATHER") == {"INT8"}
        agreement[label] = float(np.mean(run_tflite(path, images).argmax(-1) == reference))
    assert agreement["selective"] >= 0.95, agreement
    # Quantizing the coordinate arithmetic as well visibly breaks the warp.
    assert agreement["full"] < agreement["selective"] - 0.05, agreement


def test_unknown_float_layer_is_rejected(fam_model, images):
    from kerasseg.export.tflite import convert_tflite

    with pytest.raises(ValueError, match="float_layers.*no_such_layer"):
        convert_tflite(fam_model, "int8", input_size=SIZE, representative_images=list(images[:1]),
                       float_layers=["no_such_layer"])


def test_onnx_and_savedmodel_at_any_size(fam_model, tmp_path):
    from kerasseg.export import export_onnx, export_savedmodel, run_onnx, run_savedmodel

    onnx_path = export_onnx(fam_model, tmp_path / "m.onnx")
    saved = export_savedmodel(fam_model, tmp_path)
    rng = np.random.default_rng(2)
    for batch, size in ((1, (24, 40)), (2, (32, 18))):
        x = rng.uniform(0, 255, (batch, *size, 3)).astype(np.float32)
        want = fam_model(x).numpy()
        np.testing.assert_allclose(run_onnx(onnx_path, x), want, atol=1e-4)
        np.testing.assert_allclose(run_savedmodel(saved, x), want, atol=1e-4)
