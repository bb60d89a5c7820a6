"""Generic reader for segmentation data stored as image files and index masks.

Two layouts:

- `images_dir` + `masks_dir`: an image `a.jpg` pairs with the mask of the same stem (`a.png`).
- `list_file`: one `IMAGE_PATH MASK_PATH` pair per line, relative to the list file's folder (absolute paths are
  kept); blank lines and lines starting with `#` are skipped. This is the SegNet/ENet CamVid layout.

Images may be PNG, JPEG, BMP or GIF (first frame), grey or colour; they are returned as RGB. Masks are
single-channel 8-bit PNG, BMP or GIF index maps (pixel value = class index); JPEG masks are refused because lossy
compression changes label values, and colour (RGB or palette) masks are refused because TensorFlow decodes them to
colours, not indices.

Problems are reported with the file that has them: the file layout is checked in Python when the dataset is built,
the file contents by assertions in the tf.data graph (an `InvalidArgumentError` whose message holds the path) when
the sample is read. A file whose header is valid but whose body is corrupt fails inside the decoder, whose
message TensorFlow does not let us extend with the path.
"""
import os

import tensorflow as tf

from kerasseg.data import IGNORE_CLASS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MASK_EXTENSIONS = (".png", ".bmp", ".gif")

_MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "bmp": b"BM", "gif": b"GIF8"}


def _listdir(folder, extensions):
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if os.path.splitext(name)[1].lower() in extensions and os.path.isfile(os.path.join(folder, name))
    )


def _pairs_from_folders(images_dir, masks_dir):
    for name, folder in (("images_dir", images_dir), ("masks_dir", masks_dir)):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{name} {folder!r} is not a directory")
    images = _listdir(images_dir, IMAGE_EXTENSIONS)
    if not images:
        raise ValueError(f"images_dir {images_dir!r} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in images]
    if len(set(stems)) != len(stems):
        duplicates = sorted({s for s in stems if stems.count(s) > 1})
        raise ValueError(f"images in {images_dir!r} share stems {duplicates}, so masks cannot be matched")
    masks = {}
    for path in _listdir(masks_dir, MASK_EXTENSIONS):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in masks:
            raise ValueError(f"two masks share the stem {stem!r}: {masks[stem]!r} and {path!r}")
        masks[stem] = path
    pairs = []
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in masks:
            raise FileNotFoundError(
                f"image {path!r} has no mask named {stem}{{{','.join(MASK_EXTENSIONS)}}} in {masks_dir!r}"
            )
        pairs.append((path, masks[stem]))
    return pairs


def _pairs_from_list(list_file):
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"list_file {list_file!r} does not exist")
    root = os.path.dirname(os.path.abspath(list_file))
    pairs = []
    with open(list_file) as f:
        for line_number, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ValueError(
                    f"{list_file}:{line_number}: expected 2 fields 'IMAGE_PATH MASK_PATH', got {len(fields)}: "
                    f"{line!r}"
                )
            pair = tuple(os.path.normpath(os.path.join(root, field)) for field in fields)
            for kind, path in zip(("image", "mask"), pair):
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{list_file}:{line_number}: {kind} {path!r} does not exist")
            pairs.append(pair)
    if not pairs:
        raise ValueError(f"list_file {list_file!r} lists no pairs")
    return pairs


def _format_is(contents, fmt):
    magic = _MAGIC[fmt]
    return tf.equal(tf.strings.substr(contents, 0, len(magic)), magic)


def _read_pair(image_path, mask_path, num_classes, ignore_class, void_class):
    """Read, decode and check one (image, mask) pair; every failed check names the file."""
    image_bytes = tf.io.read_file(image_path)
    mask_bytes = tf.io.read_file(mask_path)
    is_image = tf.reduce_any(tf.stack([_format_is(image_bytes, fmt) for fmt in _MAGIC]))
    checks = [
        tf.debugging.Assert(is_image, ["Not a PNG/JPEG/BMP/GIF image (bad file header):", image_path]),
        tf.debugging.Assert(
            tf.reduce_any(tf.stack([_format_is(mask_bytes, fmt) for fmt in ("png", "bmp", "gif")])),
            ["Mask is not a PNG/BMP/GIF file (bad file header; JPEG masks are refused as lossy):", mask_path],
        ),
    ]
    with tf.control_dependencies(checks):
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        mask = tf.io.decode_image(mask_bytes, channels=0, expand_animations=False)
    image_shape, mask_shape = tf.shape(image), tf.shape(mask)
    checks = [
        tf.debugging.Assert(
            tf.equal(mask_shape[2], 1),
            ["Mask must be a single-channel index map, got", mask_shape[2], "channels:", mask_path],
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.equal(image_shape[:2], mask_shape[:2])),
            ["Image and mask sizes differ: image", image_path, image_shape[:2], "mask", mask_path, mask_shape[:2]],
        ),
    ]
    with tf.control_dependencies(checks):
        label = tf.cast(mask[:, :, 0], tf.int32)
    if void_class is not None:
        label = tf.where(tf.equal(label, void_class), ignore_class, label)
    out_of_range = tf.logical_and(label >= num_classes, tf.not_equal(label, ignore_class))
    bad_values, _ = tf.unique(tf.boolean_mask(label, out_of_range))
    range_check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(out_of_range)),
        [f"Label values >= num_classes={num_classes} (other than ignore_class={ignore_class}) in mask", mask_path,
         "values:", bad_values[:10]],
    )
    with tf.control_dependencies([range_check]):
        image = tf.cast(image, tf.float32)
        label = tf.identity(label)
    image.set_shape([None, None, 3])
    label.set_shape([None, None])
    return image, label


def folder_dataset(images_dir=None, masks_dir=None, list_file=None, num_classes=None, ignore_class=IGNORE_CLASS,
                   void_class=None, shuffle_files=False, seed=None):
    """Dataset of (image, label) pairs read from image files and single-channel index masks.

    Args:
        images_dir: folder of images (PNG, JPEG, BMP, GIF); use together with `masks_dir`.
        masks_dir: folder of masks (PNG, BMP, GIF), each named like its image (`a.jpg` <-> `a.png`).
        list_file: instead of the two folders, a text file with one `IMAGE_PATH MASK_PATH` pair per line,
            paths relative to the list file's folder.
        num_classes: number of classes; mask values must be in [0, num_classes) or equal `ignore_class`.
        ignore_class: label value of pixels to ignore.
        void_class: optional mask value that means "unlabelled" in this dataset and is remapped to
            `ignore_class` (e.g. CamVid: `void_class=11, num_classes=11`).
        shuffle_files: shuffle the file order (reshuffled each iteration, deterministic under `seed`).
        seed: seed of the file shuffle.

    Returns:
        A `tf.data.Dataset` of (image float32 [H, W, 3] RGB in [0, 255], label int32 [H, W]), with a known
        cardinality (the number of pairs). Reading a bad file raises `tf.errors.InvalidArgumentError` naming it.

    Raises:
        ValueError, FileNotFoundError: bad arguments or file layout, naming the argument, file or list-file line.
    """
    if list_file is not None and (images_dir is not None or masks_dir is not None):
        raise ValueError("give either list_file or images_dir + masks_dir, not both")
    if list_file is None and (images_dir is None or masks_dir is None):
        raise ValueError("give images_dir and masks_dir, or list_file")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 0 < num_classes <= 256:
        raise ValueError(f"num_classes must be an int in [1, 256]; got {num_classes!r}")
    if not isinstance(ignore_class, int) or isinstance(ignore_class, bool) or ignore_class < 0:
        raise ValueError(f"ignore_class must be an int >= 0; got {ignore_class!r}")
    if ignore_class < num_classes:
        raise ValueError(f"ignore_class={ignore_class} must not be a class index (num_classes={num_classes})")
    if void_class is not None and (not isinstance(void_class, int) or not 0 <= void_class <= 255):
        raise ValueError(f"void_class must be None or an int in [0, 255]; got {void_class!r}")

    pairs = _pairs_from_list(list_file) if list_file is not None else _pairs_from_folders(images_dir, masks_dir)
    image_paths = [image for image, _ in pairs]
    mask_paths = [mask for _, mask in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((image_paths, mask_paths))
    if shuffle_files:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    return dataset.map(
        lambda image_path, mask_path: _read_pair(image_path, mask_path, num_classes, ignore_class, void_class),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
