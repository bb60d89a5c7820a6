"""Flow warp (grid_sample-style bilinear sampling) and the Flow Alignment Module of SFNet.

Reference: Li, You, Yang, Tong, Zhao, Tong, Tan, Lin, "Semantic Flow for Fast and Accurate Scene Parsing",
ECCV 2020, arXiv 2002.10120.

Keras and TFLite have no builtin `grid_sample`. `FlowWarp` writes it from ops that exist as builtin TFLite
kernels and in ONNX: coordinate arithmetic (ADD / MUL / SUB / FLOOR / MINIMUM / MAXIMUM / CAST), integer flat
indices and four GATHERs of the corner pixels, blended with the bilinear weights. Height and width may be
unknown until run time (SavedModel serving), and the batch may be larger than one.

Coordinate convention. kerasseg samples with half-pixel centres everywhere (`Resize`, i.e. PyTorch's
`align_corners=False`). The warp follows: output pixel (i, j) of an H x W output reads the input at

    x = (j + 0.5 + flow_x) * (w_in / W) - 0.5,    y = (i + 0.5 + flow_y) * (h_in / H) - 0.5

so the flow is a displacement in output pixels and a zero flow is exactly the bilinear up-sampling of
`Resize` / `tf.image.resize`. `align_corners=True` gives the convention of the SFNet reference code (PyTorch
< 1.3 grid_sample on a linspace(-1, 1) grid): x = (j + flow_x) * (w_in - 1) / (W - 1). The reference scales
its flow by 2 / W in normalised coordinates, i.e. one of its flow units is half an output pixel; the learned
3x3 flow conv absorbs that constant factor.

int8 TFLite: the coordinate arithmetic cannot live in 8 bits (a 256-level grid over a few hundred pixels is
coarser than one pixel). The layer therefore sets `keep_float_in_int8 = True`; `kerasseg.export.tflite`
keeps every op created under its name in float (selective quantization) while the convolutions around it
are int8.
"""
import keras
import tensorflow as tf

from kerasseg.layers.resize import Resize

PADDING_MODES = ("border", "zeros")


def _dims(x):
    """[batch, height, width] of an NHWC tensor, static ints where known, scalar tensors otherwise."""
    static, dynamic = x.shape, tf.shape(x)
    return [static[i] if static[i] is not None else dynamic[i] for i in range(3)]


@keras.saving.register_keras_serializable(package="kerasseg")
class FlowWarp(keras.layers.Layer):
    """Bilinearly samples a feature map at a base grid plus a per-pixel flow (PyTorch's `grid_sample`).

    Call it on `[features, flow]`: `features` [B, h, w, C] is sampled; `flow` [B, H, W, 2] holds, per output
    pixel, the (x, y) displacement in output pixels (channel 0 horizontal, channel 1 vertical). The output has
    the flow's spatial size and the features' channels.

    Args:
        align_corners: False (default): half-pixel centres, so a zero flow equals `Resize` bilinear
            up-sampling. True: corner pixels of input and output are aligned (the SFNet reference code).
        padding_mode: "border" (default): coordinates are clamped to the feature map, as `tf.image.resize`
            does at the edges. "zeros": corner pixels outside the map contribute zero (grid_sample's default).

    Returns:
        The warped features [B, H, W, C], in the dtype of `features`.
    """

    #: Read by the TFLite exporter: this layer's ops stay float in an int8 model.
    keep_float_in_int8 = True

    def __init__(self, align_corners=False, padding_mode="border", **kwargs):
        super().__init__(**kwargs)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}.")
        self.align_corners = bool(align_corners)
        self.padding_mode = padding_mode

    def _axis(self, flow_component, out_size, in_size):
        """Input coordinate (float) along one axis for every output pixel, [B, H, W]."""
        dtype = flow_component.dtype
        out_f = tf.cast(out_size, dtype)
        in_f = tf.cast(in_size, dtype)
        if self.align_corners:
            # (in - 1) / (out - 1), and 0 for a single output pixel (every output pixel maps to input 0).
            scale = tf.math.divide_no_nan(in_f - 1.0, out_f - 1.0)
            return flow_component * scale, scale, tf.zeros([], dtype)
        return flow_component * (in_f / out_f), in_f / out_f, 0.5 * in_f / out_f - 0.5

    def call(self, inputs):
        features, flow = inputs
        dtype = features.dtype
        flow = tf.cast(flow, "float32")
        feat32 = tf.cast(features, "float32")
        batch, in_h, in_w = _dims(feat32)
        _, out_h, out_w = _dims(flow)
        channels = feat32.shape[-1] if feat32.shape[-1] is not None else tf.shape(feat32)[-1]

        # Base grid: x = j * scale + offset (+ flow * scale), evaluated per axis and broadcast.
        flow_x_scaled, scale_x, offset_x = self._axis(flow[..., 0], out_w, in_w)
        flow_y_scaled, scale_y, offset_y = self._axis(flow[..., 1], out_h, in_h)
        cols = tf.cast(tf.range(out_w), "float32") * scale_x + offset_x  # [W]
        rows = tf.cast(tf.range(out_h), "float32") * scale_y + offset_y  # [H]
        x = flow_x_scaled + cols[None, None, :]
        y = flow_y_scaled + rows[None, :, None]

        max_x = tf.cast(in_w - 1, "float32")
        max_y = tf.cast(in_h - 1, "float32")
        if self.padding_mode == "border":
            x = tf.minimum(tf.maximum(x, 0.0), max_x)
            y = tf.minimum(tf.maximum(y, 0.0), max_y)
        x0 = tf.floor(x)
        y0 = tf.floor(y)
        wx1 = x - x0
        wy1 = y - y0
        wx0 = 1.0 - wx1
        wy0 = 1.0 - wy1
        x1 = x0 + 1.0
        y1 = y0 + 1.0
        if self.padding_mode == "zeros":
            # Corners outside the map get weight 0; their (clamped) index is then harmless.
            def inside(v, upper):
                return tf.cast(tf.logical_and(v >= 0.0, v <= upper), "float32")

            wx0 *= inside(x0, max_x)
            wx1 *= inside(x1, max_x)
            wy0 *= inside(y0, max_y)
            wy1 *= inside(y1, max_y)

        def index(v, upper):
            return tf.cast(tf.minimum(tf.maximum(v, 0.0), upper), "int32")

        ix0, ix1 = index(x0, max_x), index(x1, max_x)
        iy0, iy1 = index(y0, max_y), index(y1, max_y)

        # Flat row index into [B * h * w, C]; the batch offset makes one GATHER serve the whole batch.
        flat = tf.reshape(feat32, tf.stack([-1, channels]))
        pixels = in_h * in_w
        batch_offset = tf.reshape(tf.range(batch) * pixels, [-1, 1, 1])
        row0 = batch_offset + iy0 * in_w
        row1 = batch_offset + iy1 * in_w

        def corner(row, col, weight):
            return tf.gather(flat, row + col) * weight[..., None]

        out = (corner(row0, ix0, wy0 * wx0) + corner(row0, ix1, wy0 * wx1)
               + corner(row1, ix0, wy1 * wx0) + corner(row1, ix1, wy1 * wx1))
        return tf.cast(out, dtype)

    def compute_output_shape(self, input_shape):
        features_shape, flow_shape = input_shape
        return (features_shape[0], flow_shape[1], flow_shape[2], features_shape[3])

    def get_config(self):
        return {**super().get_config(), "align_corners": self.align_corners, "padding_mode": self.padding_mode}


def flow_alignment_module(low, high, name, reduced_filters=None, flow_kernel_size=3):
    """Flow Alignment Module (FAM): up-samples `high` to `low`'s size along a learned semantic flow.

    Both maps are reduced by 1x1 convs (no bias) to `reduced_filters` channels (half the FPN width by
    default); the reduced high-level map is bilinearly up-sampled to the low-level size and concatenated with
    the reduced low-level one ([high, low]); a `flow_kernel_size` conv (no bias) predicts a 2-channel flow;
    the *un-reduced* high-level map is warped by base grid + flow (`FlowWarp`). The caller adds the result to
    the lateral feature.

    Args:
        low: low-level (higher-resolution) feature map [B, H, W, C].
        high: high-level feature map [B, h, w, C'] (usually the same width C).
        name: prefix of the module's layer names.
        reduced_filters: channels of the two 1x1 reductions; None for half of `high`'s channels.
        flow_kernel_size: kernel size of the flow-predicting conv.

    Returns:
        `high` warped onto `low`'s grid: [B, H, W, C'].
    """
    if reduced_filters is None:
        reduced_filters = max(high.shape[-1] // 2, 1)
    low_reduced = keras.layers.Conv2D(reduced_filters, 1, use_bias=False, name=f"{name}_down_low")(low)
    high_reduced = keras.layers.Conv2D(reduced_filters, 1, use_bias=False, name=f"{name}_down_high")(high)
    high_reduced = Resize(name=f"{name}_up_high")([high_reduced, low])
    joint = keras.layers.Concatenate(name=f"{name}_concat")([high_reduced, low_reduced])
    flow = keras.layers.Conv2D(2, flow_kernel_size, padding="same", use_bias=False, name=f"{name}_flow")(joint)
    return FlowWarp(name=f"{name}_warp")([high, flow])
