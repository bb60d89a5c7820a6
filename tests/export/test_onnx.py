import numpy as np
import onnx
import pytest

from kerasseg.export.onnx import export_onnx, onnx_input_shape, run_onnx


def test_onnx_is_dynamic_and_named(bundle):
    path = bundle["artifacts"]["onnx"]
    assert path.endswith("enet.onnx")
    assert onnx_input_shape(path) == ["batch", "height", "width", 3]
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["image"]
    assert [o.name for o in graph.output] == ["logits"]


@pytest.mark.parametrize("shape", [(2, 64, 64, 3), (1, 32, 48, 3)])
def test_onnx_matches_keras(bundle, enet, shape):
    x = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
    logits = run_onnx(bundle["artifacts"]["onnx"], x)
    np.testing.assert_allclose(logits, enet(x, training=False).numpy(), atol=1e-4, rtol=0)


def test_onnx_rejects_bad_input_size(enet, tmp_path):
    with pytest.raises(ValueError, match="multiples of 8"):
        export_onnx(enet, tmp_path / "x.onnx", input_size=(60, 64))


def test_run_onnx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        run_onnx(tmp_path / "missing.onnx", np.zeros((1, 8, 8, 3), np.float32))


def test_onnx_export_survives_a_failing_tf2onnx_optimizer(tmp_path, monkeypatch):
    # The export first converts without tf2onnx's per-optimizer graph copies; when an optimizer then fails, it
    # converts again letting tf2onnx skip that optimizer, and leaves the environment as it found it.
    import os

    import keras
    import tf2onnx.optimizer

    class FailingOptimizer:
        def optimize(self, graph, iteration):
            raise RuntimeError("optimizer failure for the test")

    monkeypatch.setattr(tf2onnx.optimizer, "_optimizers",
                        {**tf2onnx.optimizer._optimizers, "failing": FailingOptimizer})
    monkeypatch.delenv("TF2ONNX_CATCH_ERRORS", raising=False)
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.Conv2D(3, 1)])
    x = np.random.default_rng(0).uniform(0, 255, (1, 16, 24, 3)).astype(np.float32)
    path = export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(run_onnx(path, x), model(x).numpy(), atol=1e-4, rtol=0)
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ
