"""tf.data pipelines turning `(image, label)` datasets into training and evaluation batches.

Training, per sample: random scale -> random crop (padding when the scaled image is smaller than the crop) ->
random horizontal flip -> optional small rotation -> optional photometric jitter (brightness, contrast,
saturation, hue) -> float32 image in [0, 255]; then shuffle -> batch (drop_remainder) -> prefetch.

Scale, crop, padding and flip are one `tf.image.crop_and_resize` call per tensor: the crop window is computed in
source coordinates, so only the pixels that end up in the crop are resampled (measured on 2 CPU cores: 2.5 ms per
360x480 sample for a 256x256 crop, against 11 ms to resize the whole image, pad, crop and flip), and the padding
comes from the extrapolation value (`image_pad_value`, default 0, for the image; `ignore_class` for the label).
Image and label share the sampling grid, so the geometry is identical for both; the image is sampled bilinearly
and the label with nearest neighbour, so no new label values appear. The grid uses the align-corners convention
(scaled pixel k sits at source pixel k * (H - 1) / (H' - 1)), so every scaled pixel falls inside the source image
and only real padding is padded. Rotation (`kerasseg.data.augment`) turns the crop, again nearest neighbour for
the label and `ignore_class` in the corners; photometric jitter touches the image only (padding included).

Images are NOT mean/std normalised here: every kerasseg model normalises its raw [0, 255] input itself, so the
same pixels can be fed to Keras, TF Serving and LiteRT.

Randomness is stateless: each element's augmentation is keyed on `(seed, r)` where `r` comes from
`tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`. With the same seed a pipeline yields the same
batches run after run; a new iteration over the same pipeline (a new epoch of a finite one) gets new
augmentations and a new shuffle order, still fixed by the seed. As for every seeded TF op, the global seed
(`tf.random.set_seed`, `keras.utils.set_random_seed`) is part of the key: set it too for runs that match.
"""
import random

import tensorflow as tf

from kerasseg.data import IGNORE_CLASS, augment

AUTOTUNE = tf.data.AUTOTUNE

# Source pixels by which the sampling grid is pulled inside the image (see `random_scale_crop_flip`).
_EPS = 1e-3


def _check_size(name, value):
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ValueError(f"{name} must be 2 positive ints (height, width); got {value!r}")
    return int(value[0]), int(value[1])


def _check_scale_range(scale_range):
    if scale_range is None:
        return None
    if (
        not isinstance(scale_range, (tuple, list))
        or len(scale_range) != 2
        or not all(isinstance(s, (int, float)) for s in scale_range)
        or not 0 < scale_range[0] <= scale_range[1]
    ):
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high; got {scale_range!r}")
    return float(scale_range[0]), float(scale_range[1])


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def _check_ignore_class(ignore_class):
    if not isinstance(ignore_class, int) or isinstance(ignore_class, bool) or not 0 <= ignore_class < 2**24:
        raise ValueError(f"ignore_class must be an int in [0, 2**24); got {ignore_class!r}")
    return ignore_class


def _label_2d(label):
    label = tf.convert_to_tensor(label)
    if label.shape.rank == 3:
        label = tf.squeeze(label, axis=-1)
    return tf.cast(label, tf.int32)


def random_scale_crop_flip(image, label, key, crop_size, scale_range=(0.5, 2.0), flip=True,
                           ignore_class=IGNORE_CLASS, image_pad_value=0.0):
    """Randomly scale, crop (padding where needed) and horizontally flip one sample, deterministically in `key`.

    Args:
        image: [H, W, 3] image, any real dtype, values in [0, 255].
        label: int [H, W] (or [H, W, 1]) label.
        key: int [2] stateless seed for this sample.
        crop_size: (height, width) of the output.
        scale_range: (low, high) range of the uniform random scale factor, or None for no scaling.
        flip: whether to flip horizontally with probability 1/2.
        ignore_class: label value of padded pixels.
        image_pad_value: image value of padded pixels: a scalar or 3 per-channel values (e.g. the dataset's
            mean colour).

    Returns:
        (image float32 [crop_h, crop_w, 3] in [0, 255] with `image_pad_value` in padding,
         label int32 [crop_h, crop_w] with `ignore_class` in padding).
    """
    crop_h, crop_w = crop_size
    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), num=4)
    label = _label_2d(label)
    shape = tf.shape(label)
    height, width = shape[0], shape[1]
    if scale_range is None:
        scale = tf.constant(1.0)
    else:
        scale = tf.random.stateless_uniform([], seed=keys[0], minval=scale_range[0], maxval=scale_range[1])
    scaled_h = tf.maximum(tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32), 2)
    scaled_w = tf.maximum(tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32), 2)

    def offset(k, scaled, crop):
        # Crop origin in scaled pixels; negative when the scaled image is smaller (it lands at a random place).
        slack = scaled - crop
        return tf.random.stateless_uniform(
            [], seed=keys[k], minval=tf.minimum(slack, 0), maxval=tf.maximum(slack, 0) + 1, dtype=tf.int32
        )

    top, left = offset(1, scaled_h, crop_h), offset(2, scaled_w, crop_w)
    # Normalised box (crop_and_resize samples source row y * (H - 1)). Scaled row k sits at source row
    # eps + k * (H - 1 - 2 eps) / (scaled_h - 1): align corners, pulled `_EPS` pixels inwards so float rounding
    # never pushes the first or last real row outside the image (where it would be treated as padding).
    def grid(scaled, source, start, crop):
        source = tf.cast(tf.maximum(source - 1, 1), tf.float32)
        step = (source - 2.0 * _EPS) / tf.cast(scaled - 1, tf.float32)
        first = (_EPS + tf.cast(start, tf.float32) * step) / source
        last = (_EPS + tf.cast(start + crop - 1, tf.float32) * step) / source
        return first, last

    y1, y2 = grid(scaled_h, height, top, crop_h)
    x1, x2 = grid(scaled_w, width, left, crop_w)
    if flip:
        flipped = tf.random.stateless_uniform([], seed=keys[3]) < 0.5
        x1, x2 = tf.where(flipped, x2, x1), tf.where(flipped, x1, x2)
    boxes = tf.stack([y1, x1, y2, x2])[None]
    box_indices = tf.zeros([1], tf.int32)
    # Bilinear sampling is linear, so sampling (image - pad) with 0 outside and adding pad back pads with `pad`.
    pad = tf.broadcast_to(tf.convert_to_tensor(image_pad_value, tf.float32), [3])
    image = tf.image.crop_and_resize(
        (tf.cast(image, tf.float32) - pad)[None], boxes, box_indices, [crop_h, crop_w], method="bilinear",
        extrapolation_value=0.0,
    )[0] + pad
    label = tf.image.crop_and_resize(
        label[None, :, :, None], boxes, box_indices, [crop_h, crop_w], method="nearest",
        extrapolation_value=float(ignore_class),
    )[0, :, :, 0]
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([crop_h, crop_w, 3])
    label = tf.cast(label, tf.int32)
    label.set_shape([crop_h, crop_w])
    return image, label


def _check_image_pad_value(value):
    values = [value] if isinstance(value, (int, float)) else value
    if (not isinstance(values, (list, tuple)) or len(values) not in (1, 3)
            or not all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in values)):
        raise ValueError(f"image_pad_value must be a number or 3 numbers in [0, 255]; got {value!r}")
    return [float(v) for v in values] if len(values) == 3 else float(values[0])


def augment_sample(image, label, key, crop_size, scale_range=(0.5, 2.0), flip=True, rotation_degrees=0.0,
                   photometric=None, ignore_class=IGNORE_CLASS, image_pad_value=0.0):
    """The full training augmentation of one sample, deterministic in `key`.

    Random scale + crop (padding) + flip in one resampling of the crop window, then an optional small rotation
    of the crop, then optional photometric jitter of the image.

    Args:
        image: [H, W, 3] image in [0, 255].
        label: int [H, W] label.
        key: int [2] stateless seed.
        crop_size, scale_range, flip, ignore_class, image_pad_value: see `random_scale_crop_flip`.
        rotation_degrees: max rotation angle; 0 for none.
        photometric: None, or a dict of `kerasseg.data.augment.photometric_jitter` ranges.

    Returns:
        (image float32 [crop_h, crop_w, 3] in [0, 255], label int32 [crop_h, crop_w]).
    """
    key = tf.cast(key, tf.int64)
    image, label = random_scale_crop_flip(image, label, key, crop_size, scale_range, flip, ignore_class,
                                          image_pad_value)
    if rotation_degrees:
        image, label = augment.random_rotation(image, label, tf.random.experimental.stateless_fold_in(key, 1),
                                               rotation_degrees, ignore_class, image_pad_value)
    if photometric:
        image = augment.photometric_jitter(image, tf.random.experimental.stateless_fold_in(key, 2), **photometric)
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([crop_size[0], crop_size[1], 3])
    label.set_shape([crop_size[0], crop_size[1]])
    return image, label


def _prefetch(dataset):
    """Prefetches batches, with tf.data's autotuning model thread off.

    With it on, deleting the iterator (`model.fit` does so when it returns) sometimes waited for that thread's
    next optimisation round: on 2 CPU cores `fit` returned 23-104 s after its last epoch in 4 of 12 short runs of
    the main job's recipe and 42 s in 1 of 6 full ones (a native stack showed the main thread in
    `RootDataset::Iterator::~Iterator` joining the thread, which sat in `Model::OptimizeLoop`'s timed wait);
    without it, 0.00-0.08 s in 24 runs. `AUTOTUNE` parallelism is then the number of cores (at most 16), and the
    prefetch buffer still grows when the consumer finds it empty (tf.data's legacy prefetch autotuner).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(AUTOTUNE).with_options(options)


def train_pipeline(dataset, batch_size, crop_size, scale_range=(0.5, 2.0), flip=True, seed=None,
                   ignore_class=IGNORE_CLASS, shuffle_buffer=256, repeat=True, rotation_degrees=0.0,
                   photometric=None, image_pad_value=0.0):
    """Training pipeline: random scale, crop, flip (+ rotation, photometric jitter), shuffle, batch, prefetch.

    Args:
        dataset: `tf.data.Dataset` of (image [H, W, 3] in [0, 255], int label [H, W]); sizes may vary.
        batch_size: samples per batch.
        crop_size: (height, width) of the training crops.
        scale_range: (low, high) with 0 < low <= high for the uniform random scale factor; None for no scaling.
        flip: random horizontal flips (image and label together).
        seed: int making the pipeline deterministic; None draws one at random.
        ignore_class: label value of padded pixels.
        shuffle_buffer: size of the shuffle buffer (of augmented crops); 0 or None for no shuffling.
        repeat: repeat the dataset forever (use with `steps_per_epoch`); each pass gets new augmentations.
        rotation_degrees: max angle of a random rotation (e.g. 10); 0 for none.
        photometric: True for `kerasseg.data.augment.PHOTOMETRIC_DEFAULTS` (brightness, contrast, saturation,
            hue), a dict overriding some of them (None entries skip one), or None/False for none.
        image_pad_value: image value of padded pixels, a number or 3 per-channel values (e.g. the mean colour).

    Returns:
        A `tf.data.Dataset` of (image float32 [B, crop_h, crop_w, 3] in [0, 255],
        label int32 [B, crop_h, crop_w]) with `B == batch_size`.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    crop_size = _check_size("crop_size", crop_size)
    scale_range = _check_scale_range(scale_range)
    ignore_class = _check_ignore_class(ignore_class)
    photometric = augment.check_photometric(photometric)
    image_pad_value = _check_image_pad_value(image_pad_value)
    if not isinstance(rotation_degrees, (int, float)) or not 0 <= rotation_degrees <= 180:
        raise ValueError(f"rotation_degrees must be a number in [0, 180]; got {rotation_degrees!r}")
    if shuffle_buffer is not None and (not isinstance(shuffle_buffer, int) or shuffle_buffer < 0):
        raise ValueError(f"shuffle_buffer must be an int >= 0 or None; got {shuffle_buffer!r}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31 - 1)
    seed = int(seed)

    if repeat:
        dataset = dataset.repeat()
    element_keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def augment_element(sample, r):
        image, label = sample[0], sample[1]
        key = tf.stack([tf.constant(seed, tf.int64), r])
        return augment_sample(image, label, key, crop_size, scale_range, flip, float(rotation_degrees),
                              photometric, ignore_class, image_pad_value)

    dataset = tf.data.Dataset.zip((dataset, element_keys)).map(
        augment_element, num_parallel_calls=AUTOTUNE, deterministic=True
    )
    if shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return _prefetch(dataset.batch(batch_size, drop_remainder=True))


def pad_to_multiple_of(image, label, multiple, ignore_class=IGNORE_CLASS):
    """Pad image (with 0) and label (with `ignore_class`) at the bottom and right to a multiple of `multiple`.

    Args:
        image: [H, W, C] image.
        label: [H, W] label.
        multiple: int; output height and width are the smallest multiples of it >= H and W.
        ignore_class: label padding value.

    Returns:
        (padded image, padded label); the original pixels stay at the top-left.
    """
    shape = tf.shape(label)
    pad_h = (-shape[0]) % multiple
    pad_w = (-shape[1]) % multiple
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]], constant_values=0)
    label = tf.pad(label, [[0, pad_h], [0, pad_w]], constant_values=ignore_class)
    return image, label


def eval_pipeline(dataset, batch_size, pad_to_multiple=None, ignore_class=IGNORE_CLASS, drop_remainder=False,
                  resize_to=None):
    """Evaluation pipeline: no randomness, optional resize to a fixed size or padding to a multiple, batch, prefetch.

    Samples of different sizes in one batch are padded at the bottom and right to the largest (image with 0,
    label with `ignore_class`), so padding never counts in losses or metrics.

    Args:
        dataset: `tf.data.Dataset` of (image [H, W, 3] in [0, 255], int label [H, W]).
        batch_size: samples per batch.
        pad_to_multiple: int (e.g. 8 or 32) to pad every sample's height and width up to a multiple of, for
            models whose input must be divisible by their output stride; None for no padding.
        ignore_class: label value of padded pixels.
        drop_remainder: drop a last, smaller batch.
        resize_to: (height, width) to resize every sample to (image bilinear, label nearest neighbour) before
            any padding; None keeps the original size (the usual way to report mIoU).

    Returns:
        A `tf.data.Dataset` of (image float32 [B, H', W', 3] in [0, 255], label int32 [B, H', W']), in the
        dataset's order.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    pad_to_multiple = _check_positive_int("pad_to_multiple", pad_to_multiple, allow_none=True)
    ignore_class = _check_ignore_class(ignore_class)
    resize_to = None if resize_to is None else _check_size("resize_to", resize_to)

    def prepare(*sample):
        image = tf.cast(sample[0], tf.float32)
        label = _label_2d(sample[1])
        if resize_to:
            image = tf.image.resize(image, resize_to, method="bilinear")
            label = tf.image.resize(label[..., None], resize_to, method="nearest")[..., 0]
            image.set_shape([resize_to[0], resize_to[1], 3])
            label.set_shape(resize_to)
        if pad_to_multiple:
            image, label = pad_to_multiple_of(image, label, pad_to_multiple, ignore_class)
        return image, label

    dataset = dataset.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)
    image_spec, label_spec = dataset.element_spec
    if image_spec.shape.is_fully_defined() and label_spec.shape.is_fully_defined():
        # Every sample has the same known size: a plain batch keeps the static shape.
        return _prefetch(dataset.batch(batch_size, drop_remainder=drop_remainder))
    dataset = dataset.padded_batch(
        batch_size,
        padded_shapes=([None, None, 3], [None, None]),
        padding_values=(tf.constant(0.0, tf.float32), tf.constant(ignore_class, tf.int32)),
        drop_remainder=drop_remainder,
    )
    return _prefetch(dataset)
