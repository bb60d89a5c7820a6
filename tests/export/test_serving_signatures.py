"""The SavedModel the way TF Serving calls it: every signature, REST bodies, PredictRequest protos.

The client side runs in a fresh process that imports TensorFlow (and tensorflow-serving-api's protos) only:
no kerasseg, no Keras. It decodes REST `predict` bodies as TF Serving's REST layer does (row `instances`
and columnar `inputs`, `{"b64": ...}` for string tensors) and round-trips `PredictRequest` /
`PredictResponse` protobufs.
"""
import base64
import io
import json
import os

import numpy as np
import pytest

from tests.helpers import run_python

# TF Serving's REST layer (json_tensor.cc) in a few lines: a JSON value becomes a tensor of the signature
# input's dtype; {"b64": s} is base64-decoded bytes; row format stacks `instances`, columnar takes `inputs`.
CLIENT = r"""
import base64, json, sys
sys.modules["keras"] = None  # TensorFlow imports Keras when it can: make it impossible, as on a Serving host
sys.modules["kerasseg"] = None
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

path, body_path, out_path = sys.argv[1:4]
loaded = tf.saved_model.load(path)
bodies = json.load(open(body_path))

def decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value

def call(signature_name, named):
    fn = loaded.signatures[signature_name]
    specs = fn.structured_input_signature[1]
    feed = {k: tf.constant(np.array(v, dtype=object) if specs[k].dtype == tf.string else v, dtype=specs[k].dtype)
            for k, v in named.items()}
    return {k: v.numpy() for k, v in fn(**feed).items()}

def rest(body):
    fn = loaded.signatures[body.get("signature_name", "serving_default")]
    names = list(fn.structured_input_signature[1])
    if "instances" in body:
        rows = body["instances"]
        named = ({k: [decode(r[k]) for r in rows] for k in names} if isinstance(rows[0], dict) and
                 set(rows[0]) != {"b64"} else {names[0]: [decode(r) for r in rows]})
    else:
        inputs = body["inputs"]
        named = ({k: decode(v) for k, v in inputs.items()} if isinstance(inputs, dict) and set(inputs) != {"b64"}
                 else {names[0]: decode(inputs)})
    return call(body.get("signature_name", "serving_default"), named)

def grpc(signature_name, name, array):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "enet"
    request.model_spec.signature_name = signature_name
    request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
    outputs = call(request.model_spec.signature_name,
                   {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

results = {}
for key, body in bodies["rest"].items():
    for out_key, value in rest(body).items():
        results[f"rest_{key}_{out_key}"] = value
for key, (signature_name, name, array_path) in bodies["grpc"].items():
    array = np.load(array_path, allow_pickle=True)
    for out_key, value in grpc(signature_name, name, array).items():
        results[f"grpc_{key}_{out_key}"] = value
np.savez(out_path, **results)
print(json.dumps({"signatures": sorted(loaded.signatures),
                  "kerasseg_or_keras": sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None}
                                              & {"kerasseg", "keras"})}))
"""


def _png(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _example(encoded):
    import tensorflow as tf

    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _b64(data):
    return {"b64": base64.b64encode(data).decode()}


@pytest.fixture(scope="module")
def served(bundle, tmp_path_factory):
    """Sends the same two 50x70 PNG images through every signature, REST form and gRPC proto."""
    tmp = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, (2, 50, 70, 3)).astype(np.uint8)  # not a multiple of ENet's 8
    pngs = [_png(image) for image in images]
    examples = [_example(png) for png in pngs]
    np.save(tmp / "tensor.npy", images)
    np.save(tmp / "bytes.npy", np.array(pngs, dtype=object))
    np.save(tmp / "examples.npy", np.array(examples, dtype=object))
    bodies = {
        "rest": {
            "bytes_rows": {"signature_name": "image_bytes", "instances": [_b64(p) for p in pngs]},
            "bytes_columnar": {"signature_name": "image_bytes", "inputs": {"image_bytes": [_b64(p) for p in pngs]}},
            "tensor_rows": {"signature_name": "image_tensor", "instances": images.tolist()},
            "example_columnar": {"signature_name": "tf_example", "inputs": [_b64(e) for e in examples]},
            "float_rows": {"instances": [{"image": image.astype(float).tolist()} for image in images]},
        },
        "grpc": {
            "bytes": ["image_bytes", "image_bytes", str(tmp / "bytes.npy")],
            "tensor": ["image_tensor", "image_tensor", str(tmp / "tensor.npy")],
            "example": ["tf_example", "tf_example", str(tmp / "examples.npy")],
        },
    }
    (tmp / "bodies.json").write_text(json.dumps(bodies))
    env_code = "import sys; sys.argv[1:] = " + repr([bundle["artifacts"]["savedmodel"], str(tmp / "bodies.json"),
                                                      str(tmp / "out.npz")]) + "\n"
    info = json.loads(run_python(env_code + CLIENT).strip().splitlines()[-1])
    return {"images": images, "info": info, "out": dict(np.load(tmp / "out.npz"))}


def test_signatures_loaded_with_tensorflow_only(served):
    assert served["info"]["signatures"] == ["image_bytes", "image_tensor", "serving_default", "tf_example"]
    assert served["info"]["kerasseg_or_keras"] == []


@pytest.mark.parametrize("key", ["rest_bytes_rows", "rest_bytes_columnar", "rest_tensor_rows",
                                 "rest_example_columnar", "rest_float_rows", "grpc_bytes", "grpc_tensor",
                                 "grpc_example"])
def test_every_form_returns_the_keras_mask_at_the_sent_size(served, enet, key):
    images = served["images"].astype(np.float32)
    padded = np.pad(images, [(0, 0), (0, 6), (0, 2), (0, 0)])  # ENet takes multiples of 8: 56x72
    reference = enet(padded, training=False).numpy()[:, :50, :70]
    out = served["out"]
    assert out[f"{key}_classes"].shape == (2, 50, 70) and out[f"{key}_classes"].dtype == np.int32
    assert out[f"{key}_logits"].shape == (2, 50, 70, 4)
    np.testing.assert_allclose(out[f"{key}_logits"], reference, atol=1e-4 * max(1, np.abs(reference).max()))
    np.testing.assert_allclose(out[f"{key}_probabilities"].sum(-1), 1, atol=1e-5)
    assert np.mean(out[f"{key}_classes"] == reference.argmax(-1)) > 0.999


def test_grayscale_and_rgba_png_are_decoded_to_rgb(bundle):
    import tensorflow as tf

    from kerasseg.export.savedmodel import load_serving_fn

    fn = load_serving_fn(bundle["artifacts"]["savedmodel"], "image_bytes")
    gray = np.random.default_rng(3).integers(0, 256, (24, 40)).astype(np.uint8)
    rgba = np.dstack([np.repeat(gray[..., None], 3, -1), np.full_like(gray, 128)])
    a = fn(image_bytes=tf.constant([_png(gray)]))["classes"].numpy()
    b = fn(image_bytes=tf.constant([_png(rgba)]))["classes"].numpy()
    c = load_serving_fn(bundle["artifacts"]["savedmodel"], "image_tensor")(
        image_tensor=tf.constant(np.repeat(gray[None, ..., None], 3, -1)))["classes"].numpy()
    assert a.shape == (1, 24, 40)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="has no signature 'bytes'.*image_bytes"):
        load_serving_fn(bundle["artifacts"]["savedmodel"], "bytes")


def test_max_size_runs_large_photos_small_and_returns_the_sent_size(enet, tmp_path):
    import tensorflow as tf

    from kerasseg.export.savedmodel import export_savedmodel, load_serving_fn

    path = export_savedmodel(enet, tmp_path, max_size=64)
    image = np.random.default_rng(4).integers(0, 256, (1, 96, 128, 3)).astype(np.uint8)
    out = load_serving_fn(path, "image_tensor")(image_tensor=tf.constant(image))
    assert out["classes"].shape == (1, 96, 128) and out["logits"].shape == (1, 96, 128, 4)
    small = tf.image.resize(image.astype(np.float32), (48, 64), method="bilinear")
    expected = tf.image.resize(enet(small, training=False), (96, 128), method="bilinear").numpy()
    np.testing.assert_allclose(out["logits"].numpy(), expected, atol=1e-3)
    # An image within the limit runs at its own size.
    small_image = image[:, :40, :48]
    out = load_serving_fn(path, "image_tensor")(image_tensor=tf.constant(small_image))
    np.testing.assert_allclose(out["logits"].numpy(), enet(small_image.astype(np.float32), training=False),
                               atol=1e-4 * 20)
    with pytest.raises(ValueError, match="max_size"):
        export_savedmodel(enet, tmp_path / "x", max_size=0)


def test_readme_deploy_commands_send_what_the_tests_verify(bundle):
    """The README's curl body is exactly the `bytes_rows` body decoded above; docker mounts the export layout."""
    import re

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    section = readme.split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    template = re.search(r"printf '(\{.*\})' \"\$\(base64 -w0 photo.png\)\" > body.json", section).group(1)
    payload = base64.b64encode(_png(np.zeros((4, 4, 3), np.uint8))).decode()
    assert json.loads(template.replace("%s", payload)) == {"signature_name": "image_bytes",
                                                            "instances": [_b64(base64.b64decode(payload))]}
    assert "curl -s -d @body.json http://localhost:8501/v1/models/enet:predict" in section
    mount = re.search(r'-v "\$PWD/DIR/(savedmodel/enet):/models/enet" -e MODEL_NAME=enet tensorflow/serving', section)
    # TF Serving's model base path holds numbered versions: export writes DIR/savedmodel/<name>/1.
    assert bundle["artifacts"]["savedmodel"].endswith(os.path.join(mount.group(1), "1"))
    # The Kotlin options are the ones the MediaPipe test uses (category mask on, confidence masks off).
    assert ".setOutputCategoryMask(true)" in section and ".setOutputConfidenceMasks(false)" in section
