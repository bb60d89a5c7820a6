import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasseg.export.savedmodel import export_savedmodel
from kerasseg.registry import size_divisor

# Runs in a fresh interpreter: loads the SavedModel with TensorFlow only and serves two sizes.
SERVE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, out = sys.argv[1], sys.argv[2]
loaded = tf.saved_model.load(path)
fn = loaded.signatures["serving_default"]
args, kwargs = fn.structured_input_signature
info = {
    "inputs": {k: [v.shape.as_list(), v.dtype.name] for k, v in kwargs.items()},
    "n_positional": len(args),
    "outputs": {k: [v.shape.as_list(), v.dtype.name] for k, v in fn.structured_outputs.items()},
}
result = {}
for tag, shape in (("a", (2, 64, 64, 3)), ("b", (1, 50, 70, 3))):
    x = np.random.default_rng(7).uniform(0, 255, shape).astype(np.float32)
    y = fn(image=tf.constant(x))
    result[f"{tag}_image"] = x
    for k, v in y.items():
        result[f"{tag}_{k}"] = v.numpy()
        info.setdefault("dtypes", {})[f"{tag}_{k}"] = v.dtype.name
info["kerasseg_imported"] = any(m == "kerasseg" or m.startswith("kerasseg.") for m in sys.modules)
np.savez(out, **result)
print(json.dumps(info))
"""


@pytest.fixture(scope="module")
def served(bundle, tmp_path_factory):
    path = bundle["artifacts"]["savedmodel"]
    out = str(tmp_path_factory.mktemp("served") / "out.npz")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, path, out], capture_output=True, text=True, env=env,
        cwd=str(tmp_path_factory.getbasetemp()), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return info, dict(np.load(out))


def test_layout(bundle):
    path = bundle["artifacts"]["savedmodel"]
    assert path == os.path.join(bundle["out_dir"], "savedmodel", "enet", "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))


def test_signature(served):
    info, _ = served
    assert info["n_positional"] == 0
    assert info["inputs"] == {"image": [[None, None, None, 3], "float32"]}
    assert info["outputs"] == {
        "logits": [[None, None, None, 4], "float32"],
        "probabilities": [[None, None, None, 4], "float32"],
        "classes": [[None, None, None], "int32"],
    }


def test_served_without_kerasseg(served):
    info, _ = served
    assert info["kerasseg_imported"] is False


def test_outputs_match_keras_at_multiple_of_8(served, enet):
    _, out = served
    expected = enet(out["a_image"], training=False).numpy()
    assert out["a_logits"].shape == (2, 64, 64, 4)
    np.testing.assert_allclose(out["a_logits"], expected, atol=1e-4, rtol=0)
    e = np.exp(expected - expected.max(-1, keepdims=True))
    np.testing.assert_allclose(out["a_probabilities"], e / e.sum(-1, keepdims=True), atol=1e-5)
    np.testing.assert_array_equal(out["a_classes"], out["a_logits"].argmax(-1))
    assert out["a_classes"].dtype == np.int32


def test_any_size_is_padded_and_cropped(served, enet):
    _, out = served
    x = out["b_image"]
    assert out["b_logits"].shape == (1, 50, 70, 4)
    assert out["b_classes"].shape == (1, 50, 70)
    padded = np.pad(x, [(0, 0), (0, 6), (0, 2), (0, 0)])  # next multiples of 8: 56 x 72
    expected = enet(padded, training=False).numpy()[:, :50, :70]
    np.testing.assert_allclose(out["b_logits"], expected, atol=1e-4, rtol=0)


def test_existing_version_is_not_overwritten(bundle, enet):
    with pytest.raises(ValueError, match="already holds a SavedModel"):
        export_savedmodel(enet, bundle["out_dir"], version=1)
    with pytest.raises(ValueError, match="version"):
        export_savedmodel(enet, bundle["out_dir"], version=0)


def test_size_divisor(enet):
    import keras

    assert size_divisor(enet) == 8
    inputs = keras.Input((None, None, 3), name="image")
    tiny = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs), name="not_registered")
    assert size_divisor(tiny) == 1


def test_shared_loads_load_each_savedmodel_once(bundle, monkeypatch):
    import tensorflow as tf

    from kerasseg.export import savedmodel

    path = bundle["artifacts"]["savedmodel"]
    loads = []
    real_load = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda p, *a, **k: loads.append(p) or real_load(p, *a, **k))
    with savedmodel.shared_loads():
        first = savedmodel.load_savedmodel(path)
        assert savedmodel.load_serving_fn(path)._loaded is first
        with savedmodel.shared_loads():  # nested: the same objects
            assert savedmodel.load_savedmodel(path) is first
    assert len(loads) == 1
    assert savedmodel.load_savedmodel(path) is not first  # outside: a fresh load, nothing kept
    assert len(loads) == 2
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        savedmodel.load_savedmodel(os.path.join(os.path.dirname(path), "no_such_dir"))


def test_export_checks_load_the_savedmodel_once(enet, images, tmp_path, monkeypatch):
    # The parity row and the four Serving signature checks all run on one load of the SavedModel.
    import tensorflow as tf

    from kerasseg.export import export_model

    loads = []
    real_load = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda p, *a, **k: loads.append(p) or real_load(p, *a, **k))
    result = export_model(enet, tmp_path, formats=("savedmodel",), parity_images=images[:2])
    assert [r["format"] for r in result["parity"]] == ["savedmodel"] and result["parity"][0]["passed"]
    assert len(result["clients"]) == 4 and all(r["passed"] for r in result["clients"])
    assert len(loads) == 1
