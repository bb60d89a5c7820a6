import os

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
    # converted in a child process beside the other formats, and the result says so
    assert any(note.startswith("onnx was converted in a child process") for note in bundle["notes"])
    assert bundle["seconds"]["formats"] > 0


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


def _small_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, padding="same"),
                             keras.layers.Conv2D(3, 1)], name="small")


def test_onnx_in_a_child_process_equals_the_in_process_export(tmp_path):
    from kerasseg.export.onnx import start_export_onnx

    model = _small_model()
    job = start_export_onnx(model, tmp_path / "child.onnx")
    here = export_onnx(model, tmp_path / "here.onnx")
    assert job.wait() == str(tmp_path / "child.onnx") and job.seconds > 0
    child, local = onnx.load(job.path), onnx.load(here)
    assert [n.op_type for n in child.graph.node] == [n.op_type for n in local.graph.node]
    assert {p.key: p.value for p in child.metadata_props} == {p.key: p.value for p in local.metadata_props}
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 24, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_onnx(job.path, x), run_onnx(here, x))
    assert not os.path.exists(job._workdir)  # the frozen graph's temporary files are gone


def test_onnx_child_failure_names_the_file_and_the_error(tmp_path):
    from kerasseg.export.onnx import start_export_onnx

    (tmp_path / "blocker").write_text("a file where a directory should be")
    job = start_export_onnx(_small_model(), tmp_path / "blocker" / "m.onnx")
    with pytest.raises(RuntimeError, match=r"(?s)blocker/m\.onnx failed.*(FileExistsError|NotADirectoryError)"):
        job.wait()


def test_export_model_stops_the_onnx_child_when_another_format_fails(tmp_path, monkeypatch):
    import kerasseg.export as kexport
    from kerasseg.export import onnx as konnx

    jobs = []

    def start(*args, **kwargs):
        jobs.append(konnx.start_export_onnx(*args, **kwargs))
        return jobs[-1]

    def broken_savedmodel(*args, **kwargs):
        raise OSError("disk full (test)")

    monkeypatch.setattr(kexport, "start_export_onnx", start)
    monkeypatch.setattr(kexport, "export_savedmodel", broken_savedmodel)
    with pytest.raises(OSError, match="disk full"):
        kexport.export_model(_small_model(), tmp_path, formats=("savedmodel", "onnx"))
    (job,) = jobs
    assert job._process.poll() is not None  # stopped, not left running
    assert not os.path.exists(job._workdir) and not (tmp_path / "small.onnx").exists()


def test_onnx_child_is_stopped_when_freezing_fails(tmp_path, monkeypatch):
    import subprocess

    from kerasseg.export import onnx as konnx

    children = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: children.append(real_popen(*a, **k)) or children[-1])

    def failing_freeze(model, input_size):
        raise RuntimeError("freeze failure for the test")

    monkeypatch.setattr(konnx, "_graph_for_onnx", failing_freeze)
    with pytest.raises(RuntimeError, match="freeze failure"):
        konnx.start_export_onnx(_small_model(), tmp_path / "m.onnx")
    (child,) = children
    assert child.poll() is not None


def test_onnx_child_bad_input_size_starts_no_process(enet, tmp_path, monkeypatch):
    import subprocess

    from kerasseg.export.onnx import start_export_onnx

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("a process was started"))
    with pytest.raises(ValueError, match="multiples of 8"):
        start_export_onnx(enet, tmp_path / "x.onnx", input_size=(60, 64))


@pytest.mark.parametrize("child_exits_first", [False, True])
def test_onnx_child_that_cannot_start_reports_its_error(tmp_path, monkeypatch, child_exits_first):
    # The child's own failure (here: tf2onnx fails to import in it) comes back as one RuntimeError with its text,
    # whether it exits before this process has written its job (a broken pipe) or after.
    import subprocess

    from kerasseg.export import onnx as konnx

    fake = tmp_path / "fake_site"
    fake.mkdir()
    (fake / "tf2onnx.py").write_text("raise ImportError('tf2onnx broken for the test')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    if child_exits_first:
        children, real_popen, real_freeze = [], subprocess.Popen, konnx._graph_for_onnx
        monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: children.append(real_popen(*a, **k)) or children[-1])

        def freeze_after_the_child_exits(model, input_size):
            children[0].wait(timeout=120)
            return real_freeze(model, input_size)

        monkeypatch.setattr(konnx, "_graph_for_onnx", freeze_after_the_child_exits)
    with pytest.raises(RuntimeError, match=r"(?s)m\.onnx failed.*tf2onnx broken for the test"):
        konnx.start_export_onnx(_small_model(), tmp_path / "m.onnx").wait()
    assert not (tmp_path / "m.onnx").exists()
