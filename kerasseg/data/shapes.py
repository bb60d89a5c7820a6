"""Synthetic "shapes" segmentation dataset, drawn procedurally with TensorFlow ops.

Each image shows a few filled shapes (circle/ellipse, square/rectangle, triangle, ring, cross) on a textured
background (a smooth two-colour gradient, sinusoidal stripes and Gaussian noise). Shapes are placed, sized,
rotated and coloured at random; colour never tells the class, so a network has to learn the geometry. Later
shapes occlude earlier ones and the label always holds the visible class.

Sample `i` is a pure function of `(seed, i)` (stateless random ops keyed on both), so the same seed gives the
same data in any order, on any machine, and `shapes_dataset(n, seed=s)` is a prefix of
`shapes_dataset(m, seed=s)` for `m > n`.
"""
import math

import numpy as np
import tensorflow as tf

SHAPES_CLASSES = ("background", "circle", "square", "triangle", "ring", "cross")

SHAPES_PALETTE = np.array(
    [
        [0, 0, 0],  # background
        [230, 25, 75],  # circle
        [60, 180, 75],  # square
        [255, 225, 25],  # triangle
        [0, 130, 200],  # ring
        [245, 130, 48],  # cross
    ],
    dtype=np.uint8,
)

# Half-size of a shape as a fraction of min(H, W): diameters cover 30-60% of the shorter image side. Smaller
# shapes (24-52%, 2-4 per image) made the set much slower to learn at 64x64, where ENet's 8x down-sampled
# features give a 15-pixel shape two cells (README, Results).
_MIN_RADIUS = 0.15
_MAX_RADIUS = 0.30
# Minimum Euclidean RGB distance between a shape's colour and the mean background colour.
_MIN_CONTRAST = 90.0
_RING_INNER = 0.55
_CROSS_HALF_WIDTH = 0.34
_SQUARE_HALF_SIDE = 0.85
# Triangle inradius: 0.65 gives circumradius 1.3, so its area (2.2) is not far below the circle's (pi).
_TRIANGLE_INRADIUS = 0.65


def _check_image_size(image_size):
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(s, (int, np.integer)) and s >= 8 for s in image_size)
    ):
        raise ValueError(f"image_size must be 2 ints (height, width), each >= 8; got {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _shape_mask(class_id, u, v):
    """Inside test of shape `class_id` in its own normalised frame (u, v): unit radius, centred at 0."""
    r2 = u * u + v * v
    circle = r2 <= 1.0
    square = tf.maximum(tf.abs(u), tf.abs(v)) <= _SQUARE_HALF_SIDE
    # Equilateral triangle, apex up (v grows downwards): inside all three half-planes n.(u, v) <= inradius, with
    # the edge normals pointing at 90 (base), 210 and 330 degrees.
    triangle = tf.ones_like(circle)
    for angle in (90.0, 210.0, 330.0):
        a = math.radians(angle)
        triangle = tf.logical_and(triangle, u * math.cos(a) + v * math.sin(a) <= _TRIANGLE_INRADIUS)
    ring = tf.logical_and(circle, r2 >= _RING_INNER**2)
    au, av = tf.abs(u), tf.abs(v)
    cross = tf.logical_or(
        tf.logical_and(au <= 1.0, av <= _CROSS_HALF_WIDTH), tf.logical_and(au <= _CROSS_HALF_WIDTH, av <= 1.0)
    )
    masks = tf.stack([tf.zeros_like(circle), circle, square, triangle, ring, cross])
    return tf.gather(masks, class_id)


def _draw_sample(index, seed, height, width, min_shapes, max_shapes, noise_std):
    """Draw sample `index`: float32 image [H, W, 3] in [0, 255] and int32 label [H, W]."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    keys = tf.random.experimental.stateless_split(key, num=16)
    uniform = lambda k, shape, lo=0.0, hi=1.0: tf.random.stateless_uniform(  # noqa: E731
        shape, seed=keys[k], minval=lo, maxval=hi, dtype=tf.float32
    )
    h, w = float(height), float(width)
    side = min(h, w)
    y = tf.range(height, dtype=tf.float32)[:, None] + 0.5
    x = tf.range(width, dtype=tf.float32)[None, :] + 0.5

    # Background: gradient between two colours along a random direction, stripes, (noise added at the end).
    c0 = uniform(0, [3], 0.0, 255.0)
    c1 = tf.clip_by_value(c0 + uniform(1, [3], -90.0, 90.0), 0.0, 255.0)
    phi = uniform(2, [], 0.0, 2.0 * math.pi)
    t = ((x - w / 2) * tf.cos(phi) + (y - h / 2) * tf.sin(phi)) / math.hypot(h, w) + 0.5
    image = c0 * (1.0 - t[..., None]) + c1 * t[..., None]
    stripe_params = uniform(3, [4])
    psi = stripe_params[0] * math.pi
    period = side * (0.08 + 0.17 * stripe_params[1])
    amplitude = 22.0 * stripe_params[2]
    stripes = tf.sin(2.0 * math.pi * (x * tf.cos(psi) + y * tf.sin(psi)) / period + 2.0 * math.pi * stripe_params[3])
    image = image + amplitude * stripes[..., None]
    background_mean = (c0 + c1) / 2.0

    label = tf.zeros([height, width], tf.int32)
    num_shapes = tf.random.stateless_uniform(
        [], seed=keys[4], minval=min_shapes, maxval=max_shapes + 1, dtype=tf.int32
    )
    class_ids = tf.random.stateless_uniform(
        [max_shapes], seed=keys[5], minval=1, maxval=len(SHAPES_CLASSES), dtype=tf.int32
    )
    centres_y = uniform(6, [max_shapes], 0.12, 0.88) * h
    centres_x = uniform(7, [max_shapes], 0.12, 0.88) * w
    radii = uniform(8, [max_shapes], _MIN_RADIUS, _MAX_RADIUS) * side
    aspects = tf.exp(uniform(9, [max_shapes], -0.3, 0.3))
    thetas = uniform(10, [max_shapes], 0.0, 2.0 * math.pi)
    colours = uniform(11, [max_shapes, 3], 0.0, 255.0)
    shading = uniform(12, [max_shapes, 3], -25.0, 25.0)  # per-shape linear shading along u
    # A colour too close to the background is pushed to the opposite corner of the RGB cube; either way the
    # colour is independent of the class.
    too_close = tf.norm(colours - background_mean, axis=-1, keepdims=True) < _MIN_CONTRAST
    colours = tf.where(too_close, 255.0 - colours, colours)

    for s in range(max_shapes):
        dx, dy = x - centres_x[s], y - centres_y[s]
        cos, sin = tf.cos(thetas[s]), tf.sin(thetas[s])
        u = (dx * cos + dy * sin) / (radii[s] * aspects[s])
        v = (-dx * sin + dy * cos) * aspects[s] / radii[s]
        inside = tf.logical_and(_shape_mask(class_ids[s], u, v), s < num_shapes)
        fill = colours[s] + shading[s] * tf.clip_by_value(u, -1.0, 1.0)[..., None]
        image = tf.where(inside[..., None], fill, image)
        label = tf.where(inside, class_ids[s], label)

    image = image + noise_std * tf.random.stateless_normal([height, width, 3], seed=keys[13])
    image = tf.clip_by_value(image, 0.0, 255.0)
    return image, label


def shapes_dataset(num_samples, image_size=(64, 64), seed=0, num_shapes=(1, 3), noise_std=10.0):
    """Synthetic shapes segmentation dataset.

    Args:
        num_samples: number of samples (> 0).
        image_size: (height, width) of every image, each >= 8.
        seed: int; sample `i` depends only on `(seed, i)`.
        num_shapes: (min, max) number of shapes per image, 1 <= min <= max.
        noise_std: standard deviation of the additive Gaussian pixel noise (0-255 scale).

    Returns:
        A `tf.data.Dataset` of `(image, label)`: image float32 [H, W, 3] RGB in [0, 255], label int32 [H, W] with
        values in `[0, len(SHAPES_CLASSES))` (0 is background; the dataset has no ignored pixels).
    """
    if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"num_samples must be a positive int; got {num_samples!r}")
    height, width = _check_image_size(image_size)
    if (
        not isinstance(num_shapes, (tuple, list))
        or len(num_shapes) != 2
        or not 1 <= int(num_shapes[0]) <= int(num_shapes[1])
    ):
        raise ValueError(f"num_shapes must be (min, max) with 1 <= min <= max; got {num_shapes!r}")
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0; got {noise_std!r}")
    min_shapes, max_shapes = int(num_shapes[0]), int(num_shapes[1])
    seed = int(seed)

    def draw(index):
        image, label = _draw_sample(index, seed, height, width, min_shapes, max_shapes, float(noise_std))
        image.set_shape([height, width, 3])
        label.set_shape([height, width])
        return image, label

    return tf.data.Dataset.range(int(num_samples)).map(
        draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
