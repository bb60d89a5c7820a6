"""Per-sample augmentations beyond scale/crop/flip: photometric jitter and small rotations.

All are TensorFlow ops keyed by a stateless seed (int [2]), so `train_pipeline` stays deterministic under its
seed. Geometric transforms move image and label together; labels are always resampled with nearest neighbour
and filled with `ignore_class`, so no new label values appear.
"""
import math

import tensorflow as tf

from kerasseg.data import IGNORE_CLASS

# Photometric jitter used when `photometric=True`: the ranges of SSD-style colour distortion.
PHOTOMETRIC_DEFAULTS = {
    "brightness": 32.0 / 255.0,  # max additive delta, as a fraction of the [0, 255] range
    "contrast": (0.5, 1.5),  # contrast factor range
    "saturation": (0.5, 1.5),  # saturation factor range
    "hue": 0.05,  # max hue shift, as a fraction of the colour wheel (0.05 = 18 degrees)
}


def check_photometric(photometric):
    """Normalise the `photometric` option: None/False -> None, True -> defaults, dict -> defaults updated."""
    if photometric is None or photometric is False:
        return None
    if photometric is True:
        return dict(PHOTOMETRIC_DEFAULTS)
    if not isinstance(photometric, dict):
        raise ValueError(f"photometric must be a bool or a dict with keys {sorted(PHOTOMETRIC_DEFAULTS)}; "
                         f"got {photometric!r}")
    unknown = set(photometric) - set(PHOTOMETRIC_DEFAULTS)
    if unknown:
        raise ValueError(f"photometric has unknown keys {sorted(unknown)}; expected {sorted(PHOTOMETRIC_DEFAULTS)}")
    params = dict(PHOTOMETRIC_DEFAULTS, **photometric)
    for key in ("brightness", "hue"):
        if params[key] is not None and not 0 <= params[key] <= (1.0 if key == "brightness" else 0.5):
            raise ValueError(f"photometric {key} must be None or in [0, {1.0 if key == 'brightness' else 0.5}]; "
                             f"got {params[key]!r}")
    for key in ("contrast", "saturation"):
        value = params[key]
        if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 2
                                      and 0 <= value[0] <= value[1]):
            raise ValueError(f"photometric {key} must be None or (low, high) with 0 <= low <= high; got {value!r}")
    return params


def photometric_jitter(image, key, brightness=PHOTOMETRIC_DEFAULTS["brightness"],
                       contrast=PHOTOMETRIC_DEFAULTS["contrast"], saturation=PHOTOMETRIC_DEFAULTS["saturation"],
                       hue=PHOTOMETRIC_DEFAULTS["hue"]):
    """Random brightness, contrast, saturation and hue, in that order (None skips one).

    Args:
        image: float [H, W, 3] RGB in [0, 255].
        key: int [2] stateless seed.
        brightness: max additive delta as a fraction of the range (delta uniform in [-b, b]).
        contrast: (low, high) contrast factor range.
        saturation: (low, high) saturation factor range.
        hue: max hue shift as a fraction of the colour wheel.

    Returns:
        float32 [H, W, 3] in [0, 255].
    """
    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), num=4)
    x = tf.cast(image, tf.float32) / 255.0
    if brightness:
        x = tf.image.stateless_random_brightness(x, brightness, seed=keys[0])
    if contrast:
        x = tf.image.stateless_random_contrast(x, contrast[0], contrast[1], seed=keys[1])
    if saturation:
        x = tf.image.stateless_random_saturation(tf.clip_by_value(x, 0.0, 1.0), saturation[0], saturation[1],
                                                 seed=keys[2])
    if hue:
        x = tf.image.stateless_random_hue(tf.clip_by_value(x, 0.0, 1.0), hue, seed=keys[3])
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def random_rotation(image, label, key, max_degrees, ignore_class=IGNORE_CLASS, image_fill=0.0):
    """Rotate image and label together by a uniform angle in [-max_degrees, max_degrees] about the centre.

    The output keeps the input size; corners that come from outside are filled with `image_fill` (image) and
    `ignore_class` (label). The image is resampled bilinearly, the label with nearest neighbour.

    Args:
        image: float [H, W, 3].
        label: int [H, W].
        key: int [2] stateless seed.
        max_degrees: largest rotation angle in degrees (> 0).
        ignore_class: label fill value.
        image_fill: image fill value: a scalar or 3 per-channel values.

    Returns:
        (image float32 [H, W, 3], label int32 [H, W]).
    """
    angle = tf.random.stateless_uniform([], seed=tf.cast(key, tf.int64), minval=-max_degrees,
                                        maxval=max_degrees) * (math.pi / 180.0)
    shape = tf.shape(label)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    cy, cx = (height - 1.0) / 2.0, (width - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel (x, y) samples input (cos (x-cx) + sin (y-cy) + cx, -sin (x-cx) + cos (y-cy) + cy).
    transform = tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, 0.0, 0.0])
    transform = transform[None]
    fill = tf.cast(tf.broadcast_to(tf.convert_to_tensor(image_fill, tf.float32), [3]), tf.float32)
    image = tf.raw_ops.ImageProjectiveTransformV3(
        images=(tf.cast(image, tf.float32) - fill)[None], transforms=transform, output_shape=shape,
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0] + fill
    label = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(label, tf.float32)[None, :, :, None], transforms=transform, output_shape=shape,
        fill_value=float(ignore_class), interpolation="NEAREST", fill_mode="CONSTANT")[0, :, :, 0]
    return image, tf.cast(tf.round(label), tf.int32)
