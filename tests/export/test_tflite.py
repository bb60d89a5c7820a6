import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.export.tflite import (
    assert_builtin_ops_only,
    export_tflite,
    make_interpreter,
    non_builtin_ops,
    run_tflite,
    tflite_op_counts,
    tflite_ops,
    xnnpack_partitions,
)

FORMATS = ("tflite-fp32", "tflite-fp16", "tflite-int8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_builtin_only_and_batch1_fixed_size(bundle, fmt):
    path = bundle["artifacts"][fmt]
    ops = assert_builtin_ops_only(path)
    assert "CONV_2D" in ops and "DEPTH_TO_SPACE" in ops
    # The weights are constants: no resource variables survived the conversion.
    assert "VAR_HANDLE" not in ops and "READ_VARIABLE" not in ops
    detail = make_interpreter(path).get_input_details()[0]
    assert list(detail["shape"]) == [1, 64, 64, 3]


def test_fp32_folds_dilations_and_batchnorm(bundle):
    counts = tflite_op_counts(bundle["artifacts"]["tflite-fp32"])
    assert "SPACE_TO_BATCH_ND" not in counts and "BATCH_TO_SPACE_ND" not in counts
    # Batch norm folded into the convolutions: no RSQRT, and only the input normalisation's SUB/MUL remain.
    assert "RSQRT" not in counts
    assert counts.get("SUB", 0) <= 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_runs_with_litert(bundle, enet, images, fmt):
    logits = run_tflite(bundle["artifacts"][fmt], images)
    reference = enet(images, training=False).numpy()
    assert logits.shape == reference.shape and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    if fmt == "tflite-fp32":
        np.testing.assert_allclose(logits, reference, atol=1e-4, rtol=0)


def test_io_dtypes(bundle):
    from tests.helpers import tflite_op_types

    fp16 = make_interpreter(bundle["artifacts"]["tflite-fp16"])
    assert fp16.get_input_details()[0]["dtype"] == np.float32
    assert fp16.get_output_details()[0]["dtype"] == np.float32
    int8 = make_interpreter(bundle["artifacts"]["tflite-int8"])
    assert int8.get_input_details()[0]["dtype"] == np.uint8
    # float32 scores out, through a DEQUANTIZE that XNNPACK runs: of the int8 I/O only the uint8 input's
    # QUANTIZE is left to LiteRT (a uint8 output would add a second, the largest tensor's requantisation).
    assert int8.get_output_details()[0]["dtype"] == np.float32
    last = tflite_op_types(bundle["artifacts"]["tflite-int8"])[-1]
    assert (last["op"], last["inputs"], last["output"]) == ("DEQUANTIZE", ["INT8"], "FLOAT32"), last
    assert xnnpack_partitions(int8)["left_out"].get("QUANTIZE") == 1
    # Raw camera bytes in: the uint8 input is the pixel value itself.
    assert int8.get_input_details()[0]["quantization"] == (1.0, 0)
    assert "DEQUANTIZE" in tflite_ops(bundle["artifacts"]["tflite-fp16"])  # fp16 weights


def test_int8_is_integer_except_the_layers_kept_float(bundle, enet):
    """Every convolution is int8; the only float32 ops are those of the layers that declare
    `keep_float_in_int8` (ENet's PReLUs and max-unpoolings), entered through DEQUANTIZE."""
    from kerasseg.export.tflite import float_layer_names
    from tests.helpers import tflite_op_types

    float_layers = set(float_layer_names(enet))
    assert {name.rsplit("_", 1)[-1] for name in float_layers} == {"unpool", "act", "out"}, float_layers
    float_ops = {}
    for op in tflite_op_types(bundle["artifacts"]["tflite-int8"]):
        if op["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
            assert set(op["inputs"]) == {"INT8"}, op
        if "FLOAT32" in op["inputs"] + [op["output"]]:
            float_ops[op["op"]] = float_ops.get(op["op"], 0) + 1
            if op["op"] not in ("DEQUANTIZE", "QUANTIZE"):  # the boundaries, named by the quantizer
                assert op["layer"] in float_layers, op
    assert float_ops["PRELU"] == tflite_op_counts(bundle["artifacts"]["tflite-fp32"])["PRELU"]
    assert float_ops["EQUAL"] >= 2 and float_ops["DEQUANTIZE"] >= 1, float_ops


@pytest.mark.parametrize("fmt", FORMATS)
def test_signature_and_tensor_names(bundle, images, fmt):
    # The frozen conversion has no SignatureDef of its own: export writes serving_default image -> logits.
    interpreter = make_interpreter(bundle["artifacts"][fmt])
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["logits"]}}
    assert interpreter.get_input_details()[0]["name"] == "image"
    assert interpreter.get_output_details()[0]["name"] == "logits"
    runner = interpreter.get_signature_runner("serving_default")
    image = images[:1] if fmt != "tflite-int8" else images[:1].round().clip(0, 255).astype(np.uint8)
    by_signature = runner(image=image)["logits"]
    by_index = run_tflite(bundle["artifacts"][fmt], images[:1])
    np.testing.assert_allclose(by_signature, by_index, atol=1e-6)


def _tiny_segmenter(name="tiny"):
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1)(x), name=name)


def test_int8_io_int8(tmp_path):
    model = _tiny_segmenter()
    reps = [np.random.default_rng(i).uniform(0, 255, (16, 16, 3)).astype(np.float32) for i in range(4)]
    path = export_tflite(model, tmp_path / "t.tflite", "int8", representative_images=reps, int8_io="int8")
    interpreter = make_interpreter(path)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert_builtin_ops_only(path)
    x = np.stack(reps[:2])
    logits = run_tflite(path, x)
    reference = model(x).numpy()
    # Dequantized: within a few quantization steps of the float model.
    scale = interpreter.get_output_details()[0]["quantization"][0]
    assert np.abs(logits - reference).max() < 4 * scale + 0.05 * np.abs(reference).max()


def test_int8_requires_representative_images(enet, tmp_path):
    with pytest.raises(ValueError, match="representative_images is required"):
        export_tflite(enet, tmp_path / "x.tflite", "int8", input_size=(64, 64))
    with pytest.raises(ValueError, match=r"representative_images\[0\] has shape"):
        export_tflite(enet, tmp_path / "x.tflite", "int8", input_size=(64, 64),
                      representative_images=[np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="quantization must be one of"):
        export_tflite(enet, tmp_path / "x.tflite", "int4", input_size=(64, 64))
    with pytest.raises(ValueError, match="multiples of 8"):
        export_tflite(enet, tmp_path / "x.tflite", input_size=(60, 64))
    with pytest.raises(ValueError, match="input_size"):
        export_tflite(enet, tmp_path / "x.tflite")  # ENet built with a dynamic size


class _ArgmaxPool(keras.layers.Layer):
    """Textbook unpooling ingredient: tf.nn.max_pool_with_argmax has no builtin TFLite kernel."""

    def call(self, x):
        pooled, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
        return pooled + tf.cast(argmax, tf.float32) * 0.0


def test_flex_op_is_detected(tmp_path):
    inputs = keras.Input((8, 8, 3), name="image")
    model = keras.Model(inputs, _ArgmaxPool()(inputs), name="argmax_pool")
    path = export_tflite(model, tmp_path / "flex.tflite", allow_select_tf_ops=True)
    flex = non_builtin_ops(path)
    assert flex and all(op.startswith("Flex") for op in flex)
    assert any("MaxPoolWithArgmax" in op for op in flex)
    assert any("MaxPoolWithArgmax" in op for op in tflite_ops(path))
    with pytest.raises(ValueError, match=r"flex\.tflite.*FlexMaxPoolWithArgmax"):
        assert_builtin_ops_only(path)


def test_run_tflite_checks_size_and_file(bundle, tmp_path):
    with pytest.raises(ValueError, match="resize first"):
        run_tflite(bundle["artifacts"]["tflite-fp32"], np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(FileNotFoundError, match="nope.tflite"):
        tflite_ops(tmp_path / "nope.tflite")


def test_int8_activation_ranges_are_the_mean_of_per_image_extremes():
    """`mean_ranges`: an intermediate tensor's range becomes the mean of its per-image min / max (the converter
    keeps the extremes over all images); the model's input and output keep the converter's ranges."""
    from kerasseg.export.tflite import mean_ranges, tflite_schema

    inputs = keras.Input((8, 8, 3), batch_size=1)
    hidden = keras.layers.Conv2D(4, 3, padding="same", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(hidden))
    rng = np.random.default_rng(0)
    # Images of very different brightness: per-image extremes differ a lot from the extremes over all.
    images = [rng.uniform(0, 255 * scale, (1, 8, 8, 3)).astype(np.float32) for scale in (0.1, 0.5, 1.0)]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image] for image in images)
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()

    def ranges(buffer):
        subgraph = tflite_schema().ModelT.InitFromPackedBuf(buffer, 0).subgraphs[0]
        first_conv = subgraph.operators[0].outputs[0]
        pick = {"input": subgraph.inputs[0], "hidden": first_conv, "output": subgraph.outputs[0]}
        return {name: (subgraph.tensors[i].quantization.min[0], subgraph.tensors[i].quantization.max[0])
                for name, i in pick.items()}

    before, after = ranges(calibrated), ranges(mean_ranges(calibrated, images))
    hidden_values = keras.Model(inputs, hidden).predict(np.concatenate(images), verbose=0)
    per_image = np.array([(min(v.min(), 0.0), max(v.max(), 0.0)) for v in hidden_values])
    np.testing.assert_allclose(after["hidden"], per_image.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(before["hidden"], (per_image[:, 0].min(), per_image[:, 1].max()), rtol=1e-4)
    assert after["hidden"][1] < 0.8 * before["hidden"][1]  # narrower than the extremes
    assert after["input"] == before["input"] and after["output"] == before["output"]
