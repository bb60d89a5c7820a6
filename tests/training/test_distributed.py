"""train.distribution: multi_worker (two real worker processes on 127.0.0.1) and mirrored (2 logical CPU devices)
against a one-process run with the same global batch."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kerasseg.training import ConfigError
from kerasseg.training.distributed import cluster_from_tf_config

RECIPE = {
    "model": {"name": "deeplabv3plus", "options": {"backbone": "mobilenetv2", "dropout_rate": 0.0,
                                                  "aspp_filters": 16, "decoder_filters": 16,
                                                  "low_level_filters": 8}},
    # scale_range < 1 pads crops with ignored pixels, unevenly across the replicas' halves of each batch.
    "data": {"dataset": "shapes", "image_size": [32, 32], "train": {"num_samples": 16, "seed": 1},
             "val": {"num_samples": 4, "seed": 2}, "batch_size": 8, "scale_range": [0.75, 1.25]},
    # SGD: its update is linear in the gradient, so float round-off between 1 and 2 processes stays round-off
    # (Adam divides by sqrt(v) and blows up the relative difference of near-zero gradients).
    "train": {"epochs": 2, "steps_per_epoch": 2, "learning_rate": 1e-2, "optimizer": "sgd", "sync_batch_norm": True,
              "overlay_samples": 0, "seed": 0, "checkpoint_every_steps": 1},
}

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    if sys.argv[3] == "mirrored":  # 2 logical CPU devices, configured before TensorFlow starts
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from kerasseg.training import fit
    recipe = json.loads(sys.argv[1])
    result = fit(recipe, verbose=0)
    np.savez(sys.argv[2], *[np.asarray(w) for w in result.model.weights])
    print("HISTORY " + json.dumps(result.history["loss"]))
""")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run(recipe, out, env_extra=None):
    env = {**os.environ, "TF_DETERMINISTIC_OPS": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(recipe), str(out),
                             recipe["train"].get("distribution", "default")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _history(output):
    return json.loads(output.split("HISTORY ", 1)[1].splitlines()[0])


def _relative_difference(a, b):
    """||a - b|| / ||b|| over all the weights of two npz files."""
    num = sum(float(np.sum((a[k].astype(np.float64) - b[k]) ** 2)) for k in b.files)
    return (num / sum(float(np.sum(b[k].astype(np.float64) ** 2)) for k in b.files)) ** 0.5


@pytest.mark.slow
def test_two_workers_and_two_mirrored_replicas_match_one_process(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    multi = {**RECIPE, "train": {**RECIPE["train"], "distribution": "multi_worker"},
             "output_dir": str(tmp_path / "multi")}
    procs = [_run(multi, tmp_path / f"worker{i}.npz", {"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    procs.append(_run({**RECIPE, "train": {**RECIPE["train"], "distribution": "mirrored"},
                       "output_dir": str(tmp_path / "mirrored")}, tmp_path / "mirrored.npz"))
    procs.append(_run({**RECIPE, "output_dir": str(tmp_path / "single")}, tmp_path / "single.npz"))
    outputs = [p.communicate(timeout=1500)[0] for p in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-4000:]
    assert "2 replicas" in outputs[2]
    w0, w1, wm, ws = (np.load(tmp_path / f"{name}.npz") for name in ("worker0", "worker1", "mirrored", "single"))
    assert len(w0.files) == len(wm.files) == len(ws.files) > 0
    for key in w0.files:  # the two workers hold the same weights
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    loss_multi, loss_mirrored, loss_single = _history(outputs[0]), _history(outputs[2]), _history(outputs[3])
    assert _history(outputs[1]) == loss_multi
    # The same global batch (with synchronised BN and the loss normalised over the whole batch): the same loss
    # trajectory to round-off as this network amplifies it (below). Measured: 0.03% on one machine, 0.77% on
    # another (2.0676 vs 2.0519, the two distributed runs bitwise equal, with this code and the code before it),
    # so the bar is the weights' 2%. It still catches a summed (doubled) replica loss; the normalisation over
    # unevenly padded replicas is checked exactly in tests/test_losses.py.
    np.testing.assert_allclose(loss_multi, loss_single, rtol=2e-2)
    np.testing.assert_allclose(loss_mirrored, loss_single, rtol=2e-2)
    # ...and the same weights to round-off as this network amplifies it: at this size (2x2 features at stride
    # 16, BN over 32 values a channel) a 1e-6 relative change of the input changes its step-1 gradient by 0.2%,
    # and after 4 SGD steps the weights of 1 and 2 processes differed by 0.65% (measured).
    assert _relative_difference(w0, ws) < 0.02
    assert _relative_difference(wm, ws) < 0.02
    # Only the chief writes the run folder; it holds the checkpoint and the finished backup.
    for run in ("multi", "mirrored"):
        meta = json.loads((tmp_path / run / "backup" / "training_metadata.json").read_text())
        assert meta["finished"] and meta["global_step"] == 4
        assert (tmp_path / run / "best.keras").is_file()
    print(f"epoch losses: 2 workers {loss_multi}, 2 mirrored replicas {loss_mirrored}, one process {loss_single}; "
          f"weight differences {_relative_difference(w0, ws):.4f}, {_relative_difference(wm, ws):.4f}")


@pytest.mark.slow
def test_mirrored_trains_auxiliary_heads_in_mixed_precision(tmp_path):
    recipe = {"model": {"name": "sfnet", "options": {"backbone": "resnet18_deep", "auxiliary_heads": True}},
              "data": {**RECIPE["data"], "batch_size": 4},
              "train": {"epochs": 1, "steps_per_epoch": 2, "learning_rate": 1e-3, "distribution": "mirrored",
                        "mixed_precision": True, "overlay_samples": 0, "seed": 0},
              "output_dir": str(tmp_path / "run")}
    proc = _run(recipe, tmp_path / "weights.npz")
    output = proc.communicate(timeout=1500)[0]
    assert proc.returncode == 0, output[-4000:]
    assert "mixed_bfloat16, 2 replicas" in output  # CPU: true means mixed_bfloat16
    assert np.isfinite(_history(output)).all()
    weights = np.load(tmp_path / "weights.npz")  # best.keras: float32, the main output only
    assert {weights[k].dtype for k in weights.files} == {np.dtype("float32")}
    import keras

    reloaded = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)
    assert not isinstance(reloaded.output, dict)


@pytest.mark.slow
def test_a_stop_on_one_worker_stops_both_and_the_cluster_resumes(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    recipe = {**RECIPE, "model": {"name": "enet"}, "output_dir": str(tmp_path / "run"),
              "data": {**RECIPE["data"], "batch_size": 4},
              "train": {**RECIPE["train"], "distribution": "multi_worker", "epochs": 3, "steps_per_epoch": 6,
                        "checkpoint_every_steps": 2}}
    env = [{"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}),
            "PYTHONUNBUFFERED": "1"} for i in range(2)]
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML

    def train(i):  # the real command line, as on each machine
        return subprocess.Popen([sys.executable, "-m", "kerasseg", "train", "--config", str(tmp_path / "recipe.yaml")],
                                env={**os.environ, **env[i]}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    procs = [train(i) for i in range(2)]
    seen = []
    for line in procs[1].stdout:  # SIGTERM to the non-chief worker once it trains
        seen.append(line)
        if line.startswith("Training enet"):
            break
    procs[1].send_signal(signal.SIGTERM)
    outputs = [p.communicate(timeout=1500)[0] for p in procs]
    outputs[1] = "".join(seen) + outputs[1]
    assert [p.returncode for p in procs] == [143, 143], outputs[0][-3000:] + outputs[1][-3000:]
    assert "SIGTERM on another worker: stopped at step" in outputs[0]
    assert "SIGTERM: stopped at step" in outputs[1] and "Resume with: kerasseg train --config" in outputs[1]
    meta = json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())
    stopped_at = meta["global_step"]
    assert 0 < stopped_at < 18 and not meta["finished"]

    procs = [train(i) for i in range(2)]
    outputs = [p.communicate(timeout=1500)[0] for p in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-4000:]
        assert f"(global step {stopped_at} of 18)" in output  # both workers resumed from the chief's backup
    meta = json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())
    assert meta["finished"] and meta["global_step"] == 18
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2"]  # appended, one row an epoch
    assert (tmp_path / "run" / "best.keras").is_file()


def test_tf_config_is_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="multi_worker needs the TF_CONFIG environment variable"):
        cluster_from_tf_config()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}')
    with pytest.raises(ConfigError, match="task.index 3 is not one of the 1 workers"):
        cluster_from_tf_config()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert cluster_from_tf_config() == (["a:1", "b:2"], 1)
