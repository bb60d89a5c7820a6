"""Generic reader for segmentation data stored as image files and index masks.

Two layouts:

- `images_dir` + `masks_dir`: an image `a.jpg` pairs with the mask of the same stem (`a.png`).
- `list_file`: one `IMAGE_PATH MASK_PATH` pair per line, relative to the list file's folder (absolute paths are
  kept); blank lines and lines starting with `#` are skipped. This is the SegNet/ENet CamVid layout.

Images may be PNG, JPEG, BMP or GIF (first frame), grey or colour; they are returned as RGB. Masks are either
single-channel index maps (8- or 16-bit grey PNG, 8-bit BMP: pixel value = class index), or, with `palette=`, RGB
colour masks whose colours are mapped to classes through that palette (every colour must be listed). JPEG masks
are refused because lossy compression changes label values; a colour or palette PNG where an index mask is
expected is refused because TensorFlow decodes it to colours, not indices.

Problems are reported with the file that has them: the file layout is checked in Python when the dataset is built,
the file contents in the tf.data graph when the sample is read (see `kerasseg.data.decode`): an
`InvalidArgumentError` naming the file and the problem, or with `on_error="skip"` a skipped sample.
"""
import os

import numpy as np

from kerasseg.data import IGNORE_CLASS
from kerasseg.data.decode import LabelMap, MaskFormat, files_dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MASK_EXTENSIONS = (".png", ".bmp", ".gif")


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


def read_list_file(list_file, line_to_pair, what):
    """Reads (image, mask) paths from a list file, one sample a line; blank lines and `#` comments are skipped.

    Args:
        list_file: path of the list file.
        line_to_pair: function `(fields, location) -> (image path, mask path)` of a line's whitespace-separated
            fields; raises ValueError naming `location` ("FILE:LINE") for a malformed line.
        what: what the lines hold ("pairs", "ids", ...), for the error on a file that lists nothing.

    Returns:
        A list of (image path, mask path); both files exist.
    """
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f"list file {list_file!r} does not exist")
    pairs = []
    with open(list_file) as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            location = f"{list_file}:{line_number}"
            pair = line_to_pair(fields, location)
            for kind, path in zip(("image", "mask"), pair):
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{location}: {kind} {path!r} does not exist")
            pairs.append(pair)
    if not pairs:
        raise ValueError(f"list file {list_file!r} lists no {what}")
    return pairs


def _pairs_from_list(list_file):
    """Pairs from a list file of `IMAGE_PATH MASK_PATH` lines, relative to the list file's folder."""
    root = os.path.dirname(os.path.abspath(list_file))

    def line_to_pair(fields, location):
        if len(fields) != 2:
            raise ValueError(f"{location}: expected 2 fields 'IMAGE_PATH MASK_PATH', got {len(fields)}: "
                             f"{' '.join(fields)!r}")
        return tuple(os.path.normpath(os.path.join(root, field)) for field in fields)

    return read_list_file(list_file, line_to_pair, "pairs")


def _pairs_from_list_of_ids(list_file, image_pattern, mask_pattern):
    """Pairs from a list of sample ids (one a line), e.g. VOC's ImageSets files. Patterns use `{id}`."""

    def line_to_pair(fields, location):
        sample_id = " ".join(fields)
        return image_pattern.format(id=sample_id), mask_pattern.format(id=sample_id)

    return read_list_file(list_file, line_to_pair, "ids")


def check_num_classes(num_classes, ignore_class):
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 0 < num_classes <= 65536:
        raise ValueError(f"num_classes must be an int in [1, 65536]; got {num_classes!r}")
    if not isinstance(ignore_class, int) or isinstance(ignore_class, bool) or ignore_class < 0:
        raise ValueError(f"ignore_class must be an int >= 0; got {ignore_class!r}")
    if ignore_class < num_classes:
        raise ValueError(f"ignore_class={ignore_class} must not be a class index (num_classes={num_classes})")


def colour_mask_format(palette, ignore_colours=(), num_classes=None, ignore_class=IGNORE_CLASS):
    """`MaskFormat` and `LabelMap` for RGB colour masks: colour `palette[k]` is class k.

    Args:
        palette: [num_classes, 3] RGB colours, one per class, all distinct.
        ignore_colours: colours whose pixels are ignored (e.g. [[0, 0, 0]] for "void").
        num_classes: defaults to `len(palette)`.
        ignore_class: label of ignored pixels.

    Returns:
        (MaskFormat, LabelMap).
    """
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"palette must be [num_classes, 3] RGB colours; got shape {palette.shape}")
    ignore_colours = np.asarray(ignore_colours, dtype=np.int64).reshape(-1, 3)
    num_classes = len(palette) if num_classes is None else num_classes
    if len(palette) != num_classes:
        raise ValueError(f"palette has {len(palette)} colours but num_classes={num_classes}")
    colours = np.concatenate([palette, ignore_colours]) if len(ignore_colours) else palette
    # Stored value of class colour k is k; of the ignore colours num_classes, num_classes + 1, ...
    mask_format = MaskFormat(colours, name="the given palette")
    mapping = {k: k for k in range(num_classes)}
    mapping.update({num_classes + j: ignore_class for j in range(len(ignore_colours))})
    label_map = LabelMap(mapping, num_classes, ignore_class, "colours of the palette or ignore_colours")
    return mask_format, label_map


def folder_dataset(images_dir=None, masks_dir=None, list_file=None, num_classes=None, ignore_class=IGNORE_CLASS,
                   void_class=None, shuffle_files=False, seed=None, palette=None, ignore_colours=(),
                   on_error="raise", skipped=None, with_file_names=False):
    """Dataset of (image, label) pairs read from image files and index (or colour) masks.

    Args:
        images_dir: folder of images (PNG, JPEG, BMP, GIF); use together with `masks_dir`.
        masks_dir: folder of masks (PNG, BMP, GIF), each named like its image (`a.jpg` <-> `a.png`).
        list_file: instead of the two folders, a text file with one `IMAGE_PATH MASK_PATH` pair per line,
            paths relative to the list file's folder.
        num_classes: number of classes; mask values must be in [0, num_classes) or equal `ignore_class`
            (or `void_class`). With `palette`, defaults to `len(palette)`.
        ignore_class: label value of pixels to ignore.
        void_class: optional mask value that means "unlabelled" in this dataset and is remapped to
            `ignore_class` (e.g. CamVid: `void_class=11, num_classes=11`).
        shuffle_files: shuffle the file order (reshuffled each iteration, deterministic under `seed`).
        seed: seed of the file shuffle.
        palette: for RGB colour masks, [num_classes, 3] colours: a pixel of colour `palette[k]` is class k.
        ignore_colours: with `palette`, colours whose pixels are ignored; any other colour is an error.
        on_error: "raise" or "skip" bad samples (see `kerasseg.data.decode.read_dataset`).
        skipped: a `SkippedSamples` that collects the skipped files.
        with_file_names: add each sample's image path as a third element.

    Returns:
        A `tf.data.Dataset` of (image float32 [H, W, 3] RGB in [0, 255], label int32 [H, W]), with a known
        cardinality (the number of pairs) unless skipping. Reading a bad file raises
        `tf.errors.InvalidArgumentError` naming it and the problem.

    Raises:
        ValueError, FileNotFoundError: bad arguments or file layout, naming the argument, file or list-file line.
    """
    if list_file is not None and (images_dir is not None or masks_dir is not None):
        raise ValueError("give either list_file or images_dir + masks_dir, not both")
    if list_file is None and (images_dir is None or masks_dir is None):
        raise ValueError("give images_dir and masks_dir, or list_file")
    if palette is not None and num_classes is None:
        num_classes = len(palette)
    check_num_classes(num_classes, ignore_class)
    if void_class is not None and (not isinstance(void_class, int) or not 0 <= void_class < 65536):
        raise ValueError(f"void_class must be None or an int in [0, 65536); got {void_class!r}")
    if palette is not None:
        if void_class is not None:
            raise ValueError("void_class is for index masks; with a palette, give ignore_colours")
        mask_format, label_map = colour_mask_format(palette, ignore_colours, num_classes, ignore_class)
    else:
        mask_format = MaskFormat()
        label_map = LabelMap.identity(num_classes, ignore_class, () if void_class is None else (void_class,))

    pairs = _pairs_from_list(list_file) if list_file is not None else _pairs_from_folders(images_dir, masks_dir)
    return files_dataset([image for image, _ in pairs], [mask for _, mask in pairs], label_map, mask_format,
                         on_error=on_error, skipped=skipped, shuffle_files=shuffle_files, seed=seed,
                         with_file_names=with_file_names)
