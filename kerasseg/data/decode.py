"""Decoding and checking of (image, mask) files, shared by every reader.

A reader describes its data with three things and hands them to `read_dataset`:

- the records: a `tf.data.Dataset` of file-path pairs (or serialized `tf.train.Example`s),
- a `MaskFormat`: how mask files encode labels (single-channel index PNGs, or colours through a palette),
- a `LabelMap`: which stored values are which class, which are ignored, and (by omission) which are errors.

Every check runs in the tf.data graph and produces a message naming the file and the problem instead of failing
half-way; `read_dataset` then either raises it (`on_error="raise"`, an `InvalidArgumentError` whose message holds
the file name) or drops the sample and records it in a `SkippedSamples` log (`on_error="skip"`). Files that
cannot be read or decoded at all (missing, truncated, corrupt) are caught too: each sample is read in a guarded
one-element dataset, and a failure is re-diagnosed file by file (eagerly, in Python) to name the culprit.

Problems detected:
- an image that is not PNG/JPEG/BMP/GIF, or a mask in JPEG (lossy compression changes label values);
- a mask in the wrong encoding: an RGB or palette PNG where single-channel indices are expected (TensorFlow
  decodes palette PNGs to colours, so their indices are not recoverable without the palette), a grey PNG with
  1/2/4-bit depth (libpng rescales those values), a single-channel mask where colours are expected;
- image and mask of different sizes;
- mask values (or colours) that the label map does not list: the message shows up to 10 of them.
"""
import logging
import threading

import numpy as np
import tensorflow as tf

from kerasseg.data import IGNORE_CLASS

AUTOTUNE = tf.data.AUTOTUNE
ON_ERROR = ("raise", "skip")
_MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "bmp": b"BM", "gif": b"GIF8"}
# Stored mask values are 8- or 16-bit, so a lookup table of 2**16 entries covers every value.
_TABLE_SIZE = 2**16
INVALID = -1

logger = logging.getLogger("kerasseg.data")


class LabelMap:
    """Maps the values stored in mask files to class labels; values it does not list are errors.

    Args:
        mapping: dict stored value -> class label in [0, num_classes), or `ignore_class` for ignored pixels.
        num_classes: number of classes.
        ignore_class: label of ignored pixels.
        description: one line saying what the valid values are, used in error messages.
    """

    def __init__(self, mapping, num_classes, ignore_class=IGNORE_CLASS, description=""):
        table = np.full([_TABLE_SIZE], INVALID, np.int32)
        for value, label in mapping.items():
            if not 0 <= int(value) < _TABLE_SIZE:
                raise ValueError(f"stored mask value {value} is outside [0, {_TABLE_SIZE})")
            if not (0 <= int(label) < num_classes or int(label) == ignore_class):
                raise ValueError(f"value {value} maps to {label}, which is neither a class in [0, {num_classes}) "
                                 f"nor ignore_class={ignore_class}")
            table[int(value)] = int(label)
        self.table = table
        self.num_classes = int(num_classes)
        self.ignore_class = int(ignore_class)
        self.description = description

    @classmethod
    def identity(cls, num_classes, ignore_class=IGNORE_CLASS, void_values=()):
        """Value k -> class k for k < num_classes; `ignore_class` and every `void_values` entry -> ignored."""
        mapping = {k: k for k in range(num_classes)}
        if ignore_class < _TABLE_SIZE:
            mapping[ignore_class] = ignore_class
        for value in void_values:
            mapping[int(value)] = ignore_class
        void = "".join(f", {v} -> ignored" for v in void_values)
        return cls(mapping, num_classes, ignore_class,
                   f"num_classes={num_classes}: 0..{num_classes - 1} are classes{void}, {ignore_class} is ignored")

    def apply(self, values):
        """int32 stored values [H, W] (INVALID for unknown colours) -> labels [H, W] (INVALID where unlisted)."""
        valid_index = tf.logical_and(values >= 0, values < _TABLE_SIZE)
        labels = tf.gather(tf.constant(self.table), tf.where(valid_index, values, 0))
        return tf.where(valid_index, labels, INVALID)


class MaskFormat:
    """How a mask file encodes labels.

    Args:
        colours: None for single-channel index masks (8- or 16-bit grey PNG, 8-bit BMP); or uint8 [K, 3]
            colours whose stored values are `colour_values` (colour masks: RGB or palette PNG).
        colour_values: int [K] stored value of each colour (default 0..K-1).
        accept_index: with `colours`, also accept single-channel index PNGs (e.g. VOC: palette PNGs and SBD's
            grey "SegmentationClassAug" masks hold the same values).
        name: what the colours are (for messages), e.g. "the VOC palette".
    """

    def __init__(self, colours=None, colour_values=None, accept_index=False, name="the palette"):
        if colours is None:
            self.keys = self.values = None
        else:
            colours = np.asarray(colours)
            if colours.ndim != 2 or colours.shape[1] != 3 or colours.min() < 0 or colours.max() > 255:
                raise ValueError(f"colours must be [K, 3] RGB values in 0..255; got shape {colours.shape}")
            values = np.arange(len(colours)) if colour_values is None else np.asarray(colour_values)
            keys = colours.astype(np.int64) @ np.array([65536, 256, 1])
            if len(np.unique(keys)) != len(keys):
                raise ValueError(f"{name} lists the same colour twice")
            order = np.argsort(keys)
            self.keys, self.values = keys[order].astype(np.int32), values[order].astype(np.int32)
        self.accept_index = accept_index
        self.name = name

    @property
    def is_colour(self):
        return self.keys is not None


INDEX_MASKS = MaskFormat()


class SkippedSamples:
    """Log of the samples a reader dropped with `on_error="skip"`: the files and the problem of each.

    Attributes:
        problems: list of messages, one per skipped sample, each naming its file(s).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.problems = []

    def add(self, problem):
        text = problem.decode("utf-8", "replace") if isinstance(problem, bytes) else str(problem)
        with self._lock:
            self.problems.append(text)
        logger.warning("skipped sample: %s", text)

    @property
    def count(self):
        return len(self.problems)

    def __len__(self):
        return self.count

    def report(self):
        """Summary text: the number of skipped samples and each one's problem."""
        if not self.problems:
            return "No samples skipped."
        lines = [f"Skipped {self.count} bad sample(s):"] + [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def _starts_with(contents, magic):
    return tf.equal(tf.strings.substr(contents, 0, len(magic)), magic)


def _png_header(contents):
    """(is_png, bit_depth, colour_type) read from the IHDR chunk (bytes 24 and 25 of a PNG file)."""
    head = tf.strings.join([tf.strings.substr(contents, 0, 26), b"\0" * 26])  # short files: pad, never fail
    fields = tf.io.decode_raw(tf.strings.substr(head, 24, 2), tf.uint8)
    return _starts_with(contents, _MAGIC["png"]), tf.cast(fields[0], tf.int32), tf.cast(fields[1], tf.int32)


def _first_problem(checks):
    """checks: list of (bad bool tensor, message string tensor). The first bad one's message, or ""."""
    problem = tf.constant("")
    for bad, message in reversed(checks):
        problem = tf.where(bad, message, problem)
    return problem


def _values_text(values):
    return tf.strings.format("{}", values[:10], summarize=10)


def decode_image(contents, name):
    """Decode an encoded image (PNG, JPEG, BMP or GIF first frame; grey or colour) to uint8 RGB.

    Returns:
        (image uint8 [H, W, 3], problem string: "" when fine).
    """
    known = tf.reduce_any(tf.stack([_starts_with(contents, magic) for magic in _MAGIC.values()]))
    problem = tf.where(known, "", tf.strings.join([name, ": not a PNG/JPEG/BMP/GIF image (bad file header)"]))
    image = tf.cond(
        known,
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8),
        lambda: tf.zeros([1, 1, 3], tf.uint8),
    )
    image.set_shape([None, None, 3])
    return image, problem


def _decode_index_png(contents, bit_depth):
    values = tf.cond(
        tf.equal(bit_depth, 16),
        lambda: tf.cast(tf.io.decode_png(contents, channels=1, dtype=tf.uint16), tf.int32),
        lambda: tf.cast(tf.io.decode_png(contents, channels=1, dtype=tf.uint8), tf.int32),
    )
    return values[:, :, 0]


def _colours_to_values(rgb, mask_format):
    codes = tf.tensordot(tf.cast(rgb, tf.int32), tf.constant([65536, 256, 1], tf.int32), axes=1)
    keys = tf.constant(mask_format.keys)
    flat = tf.reshape(codes, [-1])
    position = tf.minimum(tf.searchsorted(keys, flat), len(mask_format.keys) - 1)
    found = tf.equal(tf.gather(keys, position), flat)
    values = tf.where(found, tf.gather(tf.constant(mask_format.values), position), INVALID)
    unknown, _ = tf.unique(tf.boolean_mask(flat, tf.logical_not(found)))
    unknown_rgb = tf.stack([unknown // 65536, unknown // 256 % 256, unknown % 256], axis=-1)
    return tf.reshape(values, tf.shape(codes)), unknown_rgb


def decode_mask(contents, name, mask_format=INDEX_MASKS):
    """Decode a mask file to its stored values, checking that it is in the expected encoding.

    Args:
        contents: the file's bytes (scalar string tensor).
        name: file name for messages.
        mask_format: a `MaskFormat`.

    Returns:
        (values int32 [H, W], problem string: "" when fine). For colour masks the values are the colours'
        stored values; a colour not in the palette is a problem.
    """
    is_png, bit_depth, colour_type = _png_header(contents)
    is_bmp = _starts_with(contents, _MAGIC["bmp"])
    is_gif = _starts_with(contents, _MAGIC["gif"])
    is_jpeg = _starts_with(contents, _MAGIC["jpeg"])
    grey = tf.logical_and(is_png, tf.equal(colour_type, 0))
    grey_ok = tf.logical_and(grey, tf.logical_or(tf.equal(bit_depth, 8), tf.equal(bit_depth, 16)))
    colour_png = tf.logical_and(is_png, tf.reduce_any(tf.stack([tf.equal(colour_type, t) for t in (2, 3, 6)])))
    index_expected = not mask_format.is_colour or mask_format.accept_index
    checks = [
        (is_jpeg, tf.strings.join([name, ": JPEG mask refused (lossy compression changes label values)"])),
        (tf.logical_not(tf.reduce_any(tf.stack([is_png, is_bmp, is_gif]))),
         tf.strings.join([name, ": mask is not a PNG/BMP/GIF file (bad file header)"])),
        (tf.logical_and(grey, tf.logical_not(grey_ok)),
         tf.strings.join([name, ": grey PNG mask with bit depth ", tf.strings.as_string(bit_depth),
                          " (TensorFlow rescales 1/2/4-bit values; save 8-bit masks)"])),
        (tf.logical_and(is_png, tf.equal(colour_type, 4)),
         tf.strings.join([name, ": grey+alpha PNG mask; expected a plain single-channel mask"])),
    ]
    if mask_format.is_colour:
        checks.append((tf.logical_and(grey, not mask_format.accept_index),
                       tf.strings.join([name, f": single-channel mask where colour masks ({mask_format.name}) "
                                              "are expected"])))
        checks.append((tf.logical_or(is_gif, is_bmp),
                       tf.strings.join([name, ": colour masks must be PNG"])))
    else:
        kind = tf.where(tf.equal(colour_type, 3), "a palette PNG (decodes to colours, not class indices)",
                        "an RGB(A) colour mask")
        checks.append((colour_png, tf.strings.join(
            [name, ": ", kind, " where a single-channel index mask is expected (convert it to index values, "
             "or read it with a colour palette)"])))
    problem = _first_problem(checks)

    def index_values():
        def non_png():
            image = tf.io.decode_image(contents, channels=0, expand_animations=False, dtype=tf.uint8)
            return tf.cast(image[:, :, 0], tf.int32), tf.shape(image)[2]

        values, channels = tf.cond(is_png, lambda: (_decode_index_png(contents, bit_depth), 1), non_png)
        return values, channels

    def colour_values():
        rgb = tf.io.decode_png(contents, channels=3, dtype=tf.uint8)
        values, unknown = _colours_to_values(rgb, mask_format)
        return values, unknown

    empty_unknown = tf.zeros([0, 3], tf.int32)
    ok = tf.equal(problem, "")
    if mask_format.is_colour:
        def decode():
            if index_expected:
                return tf.cond(grey, lambda: (_decode_index_png(contents, bit_depth), empty_unknown),
                               colour_values)
            return colour_values()

        values, unknown = tf.cond(ok, decode, lambda: (tf.zeros([1, 1], tf.int32), empty_unknown))
        problem = tf.where(
            tf.logical_and(ok, tf.shape(unknown)[0] > 0),
            tf.strings.join([name, f": colours not in {mask_format.name} (RGB, up to 10): ",
                             _values_text(unknown)]),
            problem)
    else:
        values, channels = tf.cond(ok, index_values, lambda: (tf.zeros([1, 1], tf.int32), 1))
        problem = tf.where(
            tf.logical_and(ok, tf.not_equal(channels, 1)),
            tf.strings.join([name, ": mask must be a single-channel index map, got ", tf.strings.as_string(channels),
                             " channels"]),
            problem)
    values.set_shape([None, None])
    return values, problem


def check_pair(image, values, label_map, image_name, mask_name, problem):
    """Size check and label mapping of a decoded pair (skipped when `problem` is already set).

    Returns:
        (label int32 [H, W], problem string).
    """
    image_size, mask_size = tf.shape(image)[:2], tf.shape(values)
    same_size = tf.reduce_all(tf.equal(image_size, mask_size))
    size_text = lambda s: tf.strings.format("{}x{}", (s[0], s[1]))  # noqa: E731
    problem = tf.where(
        tf.logical_and(tf.equal(problem, ""), tf.logical_not(same_size)),
        tf.strings.join(["image and mask sizes differ: image ", image_name, " is ", size_text(image_size),
                         ", mask ", mask_name, " is ", size_text(mask_size)]),
        problem)
    label = label_map.apply(values)
    invalid = tf.equal(label, INVALID)
    bad_values, _ = tf.unique(tf.boolean_mask(values, invalid))
    problem = tf.where(
        tf.logical_and(tf.equal(problem, ""), tf.reduce_any(invalid)),
        tf.strings.join([mask_name, ": label values outside the dataset's mapping (", label_map.description,
                         "); found (up to 10): ", _values_text(bad_values)]),
        problem)
    return label, problem


def read_pair(image_path, mask_path, label_map, mask_format=INDEX_MASKS):
    """Read and check one image file and its mask file.

    Returns:
        (image uint8 [H, W, 3], label int32 [H, W], problem string: "" when the pair is good).
    """
    image, image_problem = decode_image(tf.io.read_file(image_path), image_path)
    values, mask_problem = decode_mask(tf.io.read_file(mask_path), mask_path, mask_format)
    problem = tf.where(tf.equal(image_problem, ""), mask_problem, image_problem)
    label, problem = check_pair(image, values, label_map, image_path, mask_path, problem)
    return image, label, problem


def _diagnose_in_python(paths, decoders):
    for path, decode in zip(paths, decoders):
        path = path.decode("utf-8", "replace") if isinstance(path, bytes) else path
        try:
            contents = tf.io.read_file(path)
        except (tf.errors.OpError, OSError):
            return f"{path}: cannot be read (missing or unreadable file)"
        try:
            decode(contents)
        except (tf.errors.OpError, ValueError):
            return f"{path}: cannot be decoded (truncated or corrupt file)"
    return f"{', '.join(p.decode() if isinstance(p, bytes) else p for p in paths)}: could not be read or decoded"


def diagnose_files(paths, decoders):
    """Message naming the first of `paths` that cannot be read or decoded (runs, eagerly, only on failure).

    Args:
        paths: list of path string tensors.
        decoders: one function of the file's bytes each (e.g. `decode_image_only`).

    Returns:
        string tensor.
    """
    def diagnose(*path_tensors):
        return _diagnose_in_python([p.numpy() for p in path_tensors], decoders)

    message = tf.py_function(diagnose, list(paths), tf.string)
    message.set_shape([])
    return message


def decode_image_only(contents):
    return tf.io.decode_image(contents, channels=3, expand_animations=False)


def decode_mask_only(contents):
    return tf.io.decode_image(contents, channels=0, expand_animations=False)


def _empty_sample(problem):
    return tf.zeros([0, 0, 3], tf.uint8), tf.zeros([0, 0], tf.int32), problem


def read_dataset(records, read_fn, diagnose_fn, name_fn, on_error="raise", skipped=None, with_file_names=False):
    """Turn a dataset of records into checked (image, label) samples.

    Args:
        records: `tf.data.Dataset` of records (tuples of tensors), e.g. (image_path, mask_path).
        read_fn: record -> (image uint8 [H, W, 3], label int32 [H, W], problem string).
        diagnose_fn: record -> message naming the file of a record whose `read_fn` raised (missing/corrupt).
        name_fn: record -> the sample's file name (a string tensor).
        on_error: "raise" (an `InvalidArgumentError` naming the file and problem) or "skip" (drop the sample and
            add it to `skipped`).
        skipped: a `SkippedSamples` log for `on_error="skip"` (each skip is also logged as a warning).
        with_file_names: add the sample's file name as a third element.

    Returns:
        `tf.data.Dataset` of (image float32 [H, W, 3] in [0, 255], label int32 [H, W]) (+ name), in order.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}")
    if on_error == "skip" and skipped is None:
        skipped = SkippedSamples()
    if skipped is not None and not isinstance(skipped, SkippedSamples):
        raise ValueError(f"skipped must be a kerasseg.data.SkippedSamples; got {type(skipped).__name__}")

    def guarded(*record):
        attempt = tf.data.Dataset.from_tensors(record).map(
            lambda *r: read_fn(*r) + (name_fn(*r),)).ignore_errors()
        fallback = tf.data.Dataset.from_tensors(record).map(
            lambda *r: _empty_sample(diagnose_fn(*r)) + (name_fn(*r),))
        return attempt.concatenate(fallback).take(1)

    dataset = records.interleave(guarded, num_parallel_calls=AUTOTUNE, deterministic=True)

    def finish(image, label, name):
        image = tf.cast(image, tf.float32)
        image.set_shape([None, None, 3])
        label.set_shape([None, None])
        return (image, label, name) if with_file_names else (image, label)

    if on_error == "raise":
        def check(image, label, problem, name):
            with tf.control_dependencies([tf.debugging.Assert(tf.equal(problem, ""), [problem])]):
                return finish(tf.identity(image), tf.identity(label), name)

        return dataset.map(check, num_parallel_calls=AUTOTUNE, deterministic=True)

    def keep(image, label, problem, name):
        def log():
            return tf.py_function(lambda p: skipped.add(p.numpy()) or False, [problem], tf.bool)

        return tf.cond(tf.equal(problem, ""), lambda: tf.constant(True), log)

    return dataset.filter(keep).map(lambda image, label, problem, name: finish(image, label, name),
                                    num_parallel_calls=AUTOTUNE, deterministic=True)


def files_dataset(image_paths, mask_paths, label_map, mask_format=INDEX_MASKS, on_error="raise", skipped=None,
                  shuffle_files=False, seed=None, with_file_names=False):
    """Checked (image, label) samples from lists of image and mask file paths (any TF filesystem path).

    Args:
        image_paths, mask_paths: equal-length lists of paths.
        label_map: `LabelMap` of stored mask values.
        mask_format: `MaskFormat` of the masks.
        on_error, skipped, with_file_names: see `read_dataset`.
        shuffle_files: shuffle the file order (reshuffled each iteration, deterministic under `seed`).
        seed: seed of the file shuffle.

    Returns:
        `tf.data.Dataset` of (image float32 [H, W, 3] in [0, 255], label int32 [H, W]); its cardinality is the
        number of pairs (unknown with `on_error="skip"`, which may drop some).
    """
    if len(image_paths) != len(mask_paths):
        raise ValueError(f"{len(image_paths)} images but {len(mask_paths)} masks")
    if not image_paths:
        raise ValueError("no (image, mask) pairs to read")
    records = tf.data.Dataset.from_tensor_slices((list(map(str, image_paths)), list(map(str, mask_paths))))
    if shuffle_files:
        records = records.shuffle(len(image_paths), seed=seed, reshuffle_each_iteration=True)
    dataset = read_dataset(
        records,
        read_fn=lambda image_path, mask_path: read_pair(image_path, mask_path, label_map, mask_format),
        diagnose_fn=lambda image_path, mask_path: diagnose_files(
            [image_path, mask_path], [decode_image_only, decode_mask_only]),
        name_fn=lambda image_path, mask_path: image_path,
        on_error=on_error, skipped=skipped, with_file_names=with_file_names,
    )
    if on_error == "raise":
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(image_paths)))
    return dataset
