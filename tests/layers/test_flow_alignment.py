import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.layers import FlowWarp, Resize, flow_alignment_module


def grid_sample_reference(features, flow, align_corners, padding_mode):
    """float64 PyTorch-style grid_sample (bilinear) on a normalised base grid plus a flow in output pixels."""
    features = np.asarray(features, np.float64)
    flow = np.asarray(flow, np.float64)
    batch, in_h, in_w, channels = features.shape
    _, out_h, out_w, _ = flow.shape
    out = np.zeros((batch, out_h, out_w, channels))

    def normalised(index, size):  # base grid in [-1, 1], then unnormalised like grid_sample
        if align_corners:
            return 2.0 * index / (size - 1) - 1.0 if size > 1 else -1.0
        return (2.0 * index + 1.0) / size - 1.0

    def unnormalise(g, size):
        return (g + 1.0) / 2.0 * (size - 1) if align_corners else ((g + 1.0) * size - 1.0) / 2.0

    def pixel(b, yy, xx):
        if 0 <= yy < in_h and 0 <= xx < in_w:
            return features[b, yy, xx]
        return np.zeros(channels)

    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                step_x = 2.0 / (out_w - 1 if align_corners else out_w) if out_w > 1 or not align_corners else 0.0
                step_y = 2.0 / (out_h - 1 if align_corners else out_h) if out_h > 1 or not align_corners else 0.0
                gx = normalised(j, out_w) + flow[b, i, j, 0] * step_x
                gy = normalised(i, out_h) + flow[b, i, j, 1] * step_y
                x, y = unnormalise(gx, in_w), unnormalise(gy, in_h)
                if padding_mode == "border":
                    x, y = min(max(x, 0.0), in_w - 1.0), min(max(y, 0.0), in_h - 1.0)
                x0, y0 = int(np.floor(x)), int(np.floor(y))
                fx, fy = x - x0, y - y0
                if padding_mode == "border":
                    get = lambda yy, xx: features[b, min(yy, in_h - 1), min(xx, in_w - 1)]  # noqa: E731
                else:
                    get = lambda yy, xx: pixel(b, yy, xx)  # noqa: E731
                out[b, i, j] = ((1 - fy) * (1 - fx) * get(y0, x0) + (1 - fy) * fx * get(y0, x0 + 1)
                                + fy * (1 - fx) * get(y0 + 1, x0) + fy * fx * get(y0 + 1, x0 + 1))
    return out


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["border", "zeros"])
@pytest.mark.parametrize("in_size,out_size", [((6, 7), (12, 14)), ((5, 9), (11, 8))])
def test_matches_float64_reference(align_corners, padding_mode, in_size, out_size):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, *in_size, 3)).astype(np.float32)
    # Flows of a few output pixels push many samples outside the map, exercising the padding.
    flow = rng.normal(scale=2.5, size=(2, *out_size, 2)).astype(np.float32)
    got = FlowWarp(align_corners=align_corners, padding_mode=padding_mode)([features, flow]).numpy()
    want = grid_sample_reference(features, flow, align_corners, padding_mode)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("in_size,out_size", [((8, 8), (16, 16)), ((5, 7), (13, 9)), ((6, 6), (6, 6))])
def test_zero_flow_is_bilinear_upsampling(in_size, out_size):
    features = np.random.default_rng(1).normal(size=(2, *in_size, 4)).astype(np.float32)
    reference = np.zeros((2, *out_size, 1), np.float32)
    zero_flow = np.zeros((2, *out_size, 2), np.float32)
    warped = FlowWarp()([features, zero_flow]).numpy()
    np.testing.assert_allclose(warped, Resize()([features, reference]).numpy(), atol=1e-5)
    if in_size == out_size:
        np.testing.assert_allclose(warped, features, atol=1e-6)
    corners = FlowWarp(align_corners=True)([features, zero_flow]).numpy()
    expected = tf.compat.v1.image.resize_bilinear(features, out_size, align_corners=True).numpy()
    np.testing.assert_allclose(corners, expected, atol=1e-5)


def test_whole_pixel_flow_shifts():
    features = np.arange(2 * 4 * 5, dtype=np.float32).reshape(1, 4, 5, 2)
    flow = np.zeros((1, 4, 5, 2), np.float32)
    flow[..., 0] = 1.0  # read one pixel to the right
    shifted = FlowWarp()([features, flow]).numpy()
    np.testing.assert_allclose(shifted[:, :, :-1], features[:, :, 1:])
    np.testing.assert_allclose(shifted[:, :, -1], features[:, :, -1])  # border: clamped
    zeros = FlowWarp(padding_mode="zeros")([features, flow]).numpy()
    np.testing.assert_allclose(zeros[:, :, -1], 0.0)


def test_unknown_height_width_and_batch_inside_tf_function():
    layer = FlowWarp()
    fn = tf.function(lambda f, fl: layer([f, fl]),
                     input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 2])])
    rng = np.random.default_rng(2)
    for batch, in_size, out_size in [(1, (4, 6), (8, 12)), (3, (7, 5), (14, 10))]:
        features = rng.normal(size=(batch, *in_size, 3)).astype(np.float32)
        flow = rng.normal(size=(batch, *out_size, 2)).astype(np.float32)
        got = fn(features, flow).numpy()
        np.testing.assert_allclose(got, grid_sample_reference(features, flow, False, "border"), atol=1e-5)


def test_flow_receives_gradients():
    features = tf.random.normal([2, 4, 4, 3], seed=3)
    flow = tf.Variable(tf.random.normal([2, 8, 8, 2], seed=4) * 0.3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(FlowWarp()([features, flow]) ** 2)
    grad = tape.gradient(loss, flow)
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0


def test_validates_arguments():
    with pytest.raises(ValueError, match="padding_mode"):
        FlowWarp(padding_mode="reflection")


def _fam_model(width=8):
    low = keras.Input((None, None, width), name="low")
    high = keras.Input((None, None, width), name="high")
    return keras.Model([low, high], flow_alignment_module(low, high, "fam"))


def test_flow_alignment_module_structure_and_identity():
    model = _fam_model(8)
    layer = model.get_layer
    assert layer("fam_down_low").filters == 4 and layer("fam_down_high").filters == 4
    assert layer("fam_down_low").kernel_size == (1, 1) and not layer("fam_down_low").use_bias
    assert layer("fam_flow").filters == 2 and layer("fam_flow").kernel_size == (3, 3)
    assert isinstance(layer("fam_warp"), FlowWarp)
    # 2 x (8*4) 1x1 reductions + 3x3x8x2 flow conv, no biases.
    assert model.count_params() == 2 * 8 * 4 + 9 * 8 * 2
    rng = np.random.default_rng(5)
    low, high = rng.normal(size=(2, 8, 10, 8)).astype(np.float32), rng.normal(size=(2, 4, 5, 8)).astype(np.float32)
    out = model([low, high]).numpy()
    assert out.shape == (2, 8, 10, 8)
    # With a zero flow conv the module is plain bilinear up-sampling of the UN-reduced high-level map.
    flow_conv = layer("fam_flow")
    flow_conv.kernel.assign(np.zeros(flow_conv.kernel.shape, np.float32))
    np.testing.assert_allclose(model([low, high]).numpy(), tf.image.resize(high, [8, 10]).numpy(), atol=1e-5)


def test_keras_round_trip(tmp_path):
    model = _fam_model(4)
    rng = np.random.default_rng(6)
    inputs = [rng.normal(size=(1, 6, 6, 4)).astype(np.float32), rng.normal(size=(1, 3, 3, 4)).astype(np.float32)]
    model.save(tmp_path / "fam.keras")
    loaded = keras.saving.load_model(tmp_path / "fam.keras")
    assert loaded.get_layer("fam_warp").get_config()["padding_mode"] == "border"
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)
