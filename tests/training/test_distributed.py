"""train.distribution: multi_worker: two real worker processes on 127.0.0.1 against a one-process run."""
import json
import os
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
    return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(recipe), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _history(output):
    return json.loads(output.split("HISTORY ", 1)[1].splitlines()[0])


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "open bug: each replica's loss is the mean over its own non-ignored pixels and the replicas' losses are "
    "averaged, which is not the one-process mean over the global batch when padding (label 255) is spread "
    "unevenly; measured epoch losses 2 workers [2.05174, 2.03516] vs one process [2.05191, 2.04882]. Fix: "
    "normalise by the all-reduced count of valid pixels (class weights included)."))
def test_two_workers_hold_identical_weights_and_match_one_process(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    multi = {**RECIPE, "train": {**RECIPE["train"], "distribution": "multi_worker"},
             "output_dir": str(tmp_path / "multi")}
    procs = [_run(multi, tmp_path / f"worker{i}.npz", {"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    single = _run({**RECIPE, "output_dir": str(tmp_path / "single")}, tmp_path / "single.npz")
    outputs = [p.communicate(timeout=1500)[0] for p in procs + [single]]
    for proc, output in zip(procs + [single], outputs):
        assert proc.returncode == 0, output[-4000:]
    w0, w1, ws = (np.load(tmp_path / f"{name}.npz") for name in ("worker0", "worker1", "single"))
    assert len(w0.files) == len(ws.files) > 0
    for key in w0.files:  # the two workers hold the same weights
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    loss_multi, loss_single = _history(outputs[0]), _history(outputs[2])
    assert _history(outputs[1]) == loss_multi
    np.testing.assert_allclose(loss_multi, loss_single, rtol=1e-3)
    for key in w0.files:  # and the same as one process with the same global batch, to round-off
        np.testing.assert_allclose(w0[key], ws[key], rtol=1e-3, atol=1e-5, err_msg=key)
    # Only the chief writes the run folder; it holds the checkpoint and the finished backup.
    meta = json.loads((tmp_path / "multi" / "backup" / "training_metadata.json").read_text())
    assert meta["finished"] and meta["global_step"] == 4
    assert (tmp_path / "multi" / "best.keras").is_file()
    print(f"epoch losses: 2 workers {loss_multi}, one process {loss_single}")


def test_tf_config_is_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="multi_worker needs the TF_CONFIG environment variable"):
        cluster_from_tf_config()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}')
    with pytest.raises(ConfigError, match="task.index 3 is not one of the 1 workers"):
        cluster_from_tf_config()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert cluster_from_tf_config() == (["a:1", "b:2"], 1)
