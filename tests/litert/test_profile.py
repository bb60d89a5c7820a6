"""`kerasseg.litert.profile`: single-operator models that compute what the whole graph computed, and the report."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from kerasseg.litert.profile import format_report, group, intermediate_values, profile, single_op_models
from kerasseg.litert.runtime import tflite_op_counts

ROOT = pathlib.Path(__file__).resolve().parents[2]
SIZE = (16, 24)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """fp32 and int8 files of a small net with the op kinds the report tells apart: 3x3 and dilated 3x3
    convolutions, kerasseg's PReLU, a residual ADD, max-pooling and kerasseg's max-unpooling (EQUAL / LESS /
    SELECT_V2, which XNNPACK leaves out)."""
    import keras

    from kerasseg.export.tflite import export_tflite
    from kerasseg.layers import MaxUnpooling2D, PReLU

    keras.utils.set_random_seed(0)
    inputs = keras.Input((*SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(x)
    x = PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25), name="act")(x)
    pooled = keras.layers.MaxPooling2D(2, name="pool")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", dilation_rate=2, name="dilated")(pooled)
    y = keras.layers.Add(name="residual")([y, pooled])
    x = MaxUnpooling2D(2, name="unpool")([y, x])
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="classifier")(x), name="tiny")
    out = tmp_path_factory.mktemp("profile")
    reps = [np.random.default_rng(i).uniform(0, 255, (*SIZE, 3)).astype(np.float32) for i in range(4)]
    return {"fp32": str(export_tflite(model, out / "tiny_fp32.tflite")),
            "int8": str(export_tflite(model, out / "tiny_int8.tflite", "int8", representative_images=reps))}


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_single_op_models_compute_what_the_whole_graph_computed(files, kind):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    image = np.random.default_rng(7).uniform(0, 255, (*SIZE, 3)).astype(np.float32)
    values = intermediate_values(files[kind], image)
    ops = single_op_models(files[kind])
    assert len(ops) == sum(tflite_op_counts(files[kind]).values())
    assert [op["index"] for op in ops] == list(range(len(ops)))
    for op in ops:
        interpreter = Interpreter(model_content=op["flatbuffer"],
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
        for detail, tensor in zip(interpreter.get_input_details(), op["inputs"]):
            interpreter.set_tensor(detail["index"], values[tensor])
        interpreter.invoke()
        for detail, tensor in zip(interpreter.get_output_details(), op["outputs"]):
            np.testing.assert_array_equal(interpreter.get_tensor(detail["index"]), values[tensor],
                                          err_msg=f"{kind} operator {op['index']} ({op['op']})")


def test_kinds_and_layers_are_named(files):
    ops = single_op_models(files["fp32"])
    kinds = {op["kind"] for op in ops}
    assert {"CONV_2D 3x3", "CONV_2D 3x3 d2", "CONV_2D 1x1", "PRELU", "EQUAL"} <= kinds, kinds
    by_kind = {op["kind"]: op["layer"] for op in ops}
    assert by_kind["CONV_2D 3x3 d2"] == "dilated" and by_kind["PRELU"] == "act" and by_kind["EQUAL"] == "unpool"


def test_profile_times_every_operator_and_says_where_xnnpack_ran_it(files):
    result = profile([files["fp32"], files["int8"]], num_threads=1, runs=2, rounds=2)
    assert list(result) == [files["fp32"], files["int8"]]
    for path, entry in result.items():
        assert entry["graph_ms"] > 0
        assert len(entry["ops"]) == sum(tflite_op_counts(path).values())
        assert all(op["ms"] > 0 for op in entry["ops"])
        kinds = group(entry["ops"], "kind")
        assert kinds["CONV_2D 3x3"][2] is True  # XNNPACK runs convolutions in both formats
        assert kinds["EQUAL"][2] is False and kinds["SELECT_V2"][2] is False  # the unpooling's tests it does not
        assert sum(count for count, _, _ in kinds.values()) == len(entry["ops"])
    report = format_report(result, top=3)
    assert "tiny_fp32.tflite: whole graph" in report and "tiny_int8.tflite: whole graph" in report
    assert "By operator kind:" in report and "CONV_2D 3x3 d2" in report
    assert "tiny_int8.tflite - tiny_fp32.tflite difference" in report


def test_bad_arguments_are_named(files, tmp_path):
    with pytest.raises(ValueError, match="runs"):
        profile(files["fp32"], runs=0)
    with pytest.raises(FileNotFoundError, match="none.tflite"):
        profile(str(tmp_path / "none.tflite"))


def test_cli_without_tensorflow(files, tmp_path):
    """The command runs with TensorFlow and Keras made unimportable (the device side needs LiteRT only)."""
    code = ("import sys, runpy\n"
            "sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "sys.argv = ['profile'] + sys.argv[1:]\n"
            "runpy.run_module('kerasseg.litert.profile', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args):
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                              cwd=str(ROOT), timeout=120)

    proc = cli(files["int8"], "--runs", "1", "--rounds", "1", "--top", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "By operator kind:" in proc.stdout and "By layer, the 2 slowest:" in proc.stdout
    proc = cli(str(tmp_path / "none.tflite"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: TFLite file not found: {tmp_path / 'none.tflite'}"
