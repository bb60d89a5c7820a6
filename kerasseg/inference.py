"""Prediction at any image size: pad to the model's multiple, sliding window, multi-scale and flip TTA.

`predict(model, image, ...)` takes one RGB image of any size and returns float32 logits [H, W, C] at that size.
`model` is a `keras.Model` or any `Predictor` (`load_predictor` opens `.keras`, SavedModel, `.tflite` and
`.onnx` files behind the same interface), so `kerasseg predict` and `kerasseg evaluate` use one code path.

* Any size: the image is zero-padded at the bottom / right to the model's size divisor and the logits cropped
  back (a fixed-size model, e.g. a `.tflite` file, gets the image resized to its size and the logits resized
  back, as MediaPipe does).
* Sliding window (`tile_size`): tiles of `tile_size` with `tile_overlap` pixels of overlap, run `batch_size`
  tiles at a time. Each tile's logits are weighted by a Gaussian (sigma = tile / 8, as in nnU-Net) or uniform
  window and accumulated; a margin of `tile_overlap // 2` at tile sides inside the image gets no weight, so
  every pixel comes from tiles where it lies at least that far from a cut: when the model's receptive field
  fits in that margin, tiling reproduces the whole-image prediction exactly.
* Test-time augmentation: the logits of every scale in `scales` (image resized bilinearly, logits resized back)
  and, with `flip`, of the horizontally flipped image (logits flipped back) are averaged, as in DeepLab's
  multi-scale inputs (Chen et al., 2018, "Encoder-Decoder with Atrous Separable Convolution") and mmseg's
  aug_test (scales 0.5 ... 1.75).
"""
import os

import numpy as np

BLENDS = ("gaussian", "uniform")
MODEL_SUFFIXES = (".keras", ".tflite", ".onnx")


class Predictor:
    """A segmentation model behind one interface: float32 [B, H, W, 3] in [0, 255] -> float32 logits.

    Attributes:
        name: what it was loaded from.
        divisor: input height and width must be multiples of it.
        fixed_size: (height, width) the model only takes, or None for any (multiple of `divisor`) size.
        max_batch: the largest batch one call takes (1 for `.tflite`).
        palette: uint8 [num_classes, 3] class colours the model carries (a kerasseg Keras model), else None.
    """

    def __init__(self, fn, name, divisor=1, fixed_size=None, max_batch=None, palette=None):
        self._fn = fn
        self.name = name
        self.divisor = int(divisor)
        self.fixed_size = None if fixed_size is None else (int(fixed_size[0]), int(fixed_size[1]))
        self.max_batch = max_batch
        self.palette = palette

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        if self.max_batch is None or len(images) <= self.max_batch:
            return np.asarray(self._fn(images), np.float32)
        return np.concatenate([np.asarray(self._fn(images[i:i + self.max_batch]), np.float32)
                               for i in range(0, len(images), self.max_batch)])


def as_predictor(model):
    """Wraps a `keras.Model` (or returns a `Predictor` as it is)."""
    if isinstance(model, Predictor):
        return model
    from kerasseg.registry import size_divisor

    shape = tuple(model.inputs[0].shape)
    fixed = shape[1:3] if shape[1] is not None and shape[2] is not None else None
    return Predictor(lambda x: model(x, training=False), model.name, size_divisor(model), fixed,
                     palette=getattr(model, "palette", None))


def load_predictor(path):
    """Opens a `.keras` file, a SavedModel folder, a `.tflite` or an `.onnx` file, or the name of shipped
    pretrained weights (`kerasseg.pretrained.list_pretrained()`, e.g. "enet_camvid"), as a `Predictor`.

    Raises:
        FileNotFoundError / ValueError: naming the path when it does not exist or is none of these.
    """
    from kerasseg.pretrained import list_pretrained, load_pretrained

    path = os.fspath(path)
    if path in list_pretrained() and not os.path.exists(path):
        predictor = as_predictor(load_pretrained(path))
        predictor.name = path
        return predictor
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path} is a folder without saved_model.pb (give a SavedModel version folder, e.g. "
                             "export/savedmodel/enet/1).")
        from kerasseg.export.savedmodel import load_serving_fn

        fn = load_serving_fn(path)  # pads to the model's multiple itself
        return Predictor(lambda x: fn(image=x)["logits"].numpy(), path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model not found: {path} (neither a file nor pretrained weights: "
                                f"{', '.join(list_pretrained())})")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".keras":
        import kerasseg

        predictor = as_predictor(kerasseg.load_model(path, compile=False))
        predictor.name = path
        return predictor
    if suffix == ".tflite":
        from kerasseg.litert.runtime import input_size, make_interpreter, run_interpreter

        interpreter = make_interpreter(path)
        return Predictor(lambda x: run_interpreter(interpreter, x), path, 1, input_size(interpreter), 1)
    if suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        (meta,) = session.get_inputs()
        dims = meta.shape[1:3]
        fixed = tuple(dims) if all(isinstance(d, int) for d in dims) else None
        # The ONNX graph does not pad: sizes must be multiples of the divisor `export_onnx` records (files
        # without it get 32, the largest kerasseg divisor, which costs only padding).
        divisor = int(session.get_modelmeta().custom_metadata_map.get("kerasseg.size_divisor", 32))
        return Predictor(lambda x: session.run(None, {meta.name: x})[0], path, 1 if fixed else divisor, fixed)
    raise ValueError(f"{path}: unknown model format {suffix or '(no suffix)'!r}; give a .keras, .tflite, .onnx file "
                     "or a SavedModel folder.")


def _resize(array, size, method="bilinear"):
    """Resizes [H, W, C] float32 to size (h, w) (bilinear, half-pixel centres) with TensorFlow or Pillow."""
    if tuple(array.shape[:2]) == tuple(size):
        return array
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    if tf is not None:
        return tf.image.resize(array, size, method=method).numpy().astype(np.float32)
    from PIL import Image

    resample = Image.BILINEAR if method == "bilinear" else Image.NEAREST
    return np.stack([np.asarray(Image.fromarray(array[..., c].astype(np.float32), mode="F").resize(
        (size[1], size[0]), resample)) for c in range(array.shape[-1])], axis=-1).astype(np.float32)


def _pad_to(image, height, width):
    return np.pad(image, [(0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)])


def _whole(predictor, image):
    """Logits of one image at its size: padded to the divisor (or resized to a fixed size) and cropped back."""
    height, width = image.shape[:2]
    if predictor.fixed_size is not None:
        return _resize(predictor(_resize(image, predictor.fixed_size)[None])[0], (height, width))
    d = predictor.divisor
    padded = _pad_to(image, -(-height // d) * d, -(-width // d) * d)
    return predictor(padded[None])[0][:height, :width]


def window_weights(tile_size, blend="gaussian"):
    """The [h, w] blending window of one tile: a Gaussian with sigma = side / 8, or ones."""
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}.")
    th, tw = tile_size
    if blend == "uniform":
        return np.ones((th, tw), np.float32)
    ys = np.exp(-0.5 * ((np.arange(th) - (th - 1) / 2) / (th / 8)) ** 2)
    xs = np.exp(-0.5 * ((np.arange(tw) - (tw - 1) / 2) / (tw / 8)) ** 2)
    weights = np.outer(ys, xs).astype(np.float32)
    return np.maximum(weights, weights.max() * 1e-3)  # the corners still count where only one tile covers them


def _starts(length, tile, stride):
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _tiled(predictor, image, tile_size, tile_overlap, blend, batch_size):
    height, width = image.shape[:2]
    th, tw = tile_size
    # An image smaller than a tile is padded up to one tile (the model then sees the same context as whole).
    padded = _pad_to(image, max(height, th), max(width, tw))
    ph, pw = padded.shape[:2]
    margin = tile_overlap // 2
    base = window_weights(tile_size, blend)
    boxes = [(y, x) for y in _starts(ph, th, th - tile_overlap) for x in _starts(pw, tw, tw - tile_overlap)]
    logits_sum = None
    weight_sum = np.zeros((ph, pw), np.float32)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i:i + batch_size]
        logits = predictor(np.stack([padded[y:y + th, x:x + tw] for y, x in chunk]))
        if logits_sum is None:
            logits_sum = np.zeros((ph, pw, logits.shape[-1]), np.float32)
        for (y, x), tile_logits in zip(chunk, logits):
            weights = base.copy()
            # No weight within `margin` of a cut: those pixels come from the neighbouring tile.
            if y > 0:
                weights[:margin] = 0
            if y + th < ph:
                weights[th - margin:] = 0
            if x > 0:
                weights[:, :margin] = 0
            if x + tw < pw:
                weights[:, tw - margin:] = 0
            logits_sum[y:y + th, x:x + tw] += tile_logits * weights[..., None]
            weight_sum[y:y + th, x:x + tw] += weights
    return (logits_sum[:height, :width] / weight_sum[:height, :width, None]).astype(np.float32)


def predict(model, image, tile_size=None, tile_overlap=None, blend="gaussian", scales=(1.0,), flip=False,
            batch_size=4):
    """Logits of one image of any size, optionally tiled and with test-time augmentation.

    Args:
        model: a `keras.Model` or a `Predictor` (see `load_predictor`).
        image: RGB [H, W, 3] (uint8 or float32 in [0, 255]).
        tile_size: (height, width) of the sliding window (or one int), multiples of the model's divisor; None
            runs the whole image at once (images smaller than a tile also run whole). A fixed-size model
            (`.tflite`) tiles at its own size when `tile_size` is given as "model" or equal to it.
        tile_overlap: pixels shared by neighbouring tiles; None for a quarter of the smaller tile side. Tiling
            reproduces the whole-image logits when the model's receptive field radius is <= tile_overlap // 2.
        blend: "gaussian" or "uniform" weighting of overlapping tiles.
        scales: image scales whose logits are averaged (e.g. (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)).
        flip: also average the logits of the horizontally flipped image (flipped back).
        batch_size: tiles per model call.

    Returns:
        float32 logits [H, W, C].

    Raises:
        ValueError: a bad image shape, tile size, overlap, scale, blend or batch size (named).
    """
    predictor = as_predictor(model)
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[-1] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be [H, W, 3] RGB, got shape {image.shape}.")
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
    scales = tuple(float(s) for s in scales)
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive numbers, got {scales!r}.")
    if tile_size == "model":
        if predictor.fixed_size is None:
            raise ValueError("tile_size='model' needs a fixed-size model (a .tflite file).")
        tile_size = predictor.fixed_size
    if tile_size is not None:
        tile_size = (int(tile_size), int(tile_size)) if np.isscalar(tile_size) else tuple(int(v) for v in tile_size)
        d = predictor.divisor
        if len(tile_size) != 2 or min(tile_size) < 1 or tile_size[0] % d or tile_size[1] % d:
            raise ValueError(f"tile_size {tile_size} must be (height, width), positive multiples of {d} for "
                             f"{predictor.name}.")
        if predictor.fixed_size is not None and tile_size != predictor.fixed_size:
            raise ValueError(f"{predictor.name} takes only {predictor.fixed_size} inputs: tile_size must be that "
                             f"size (or 'model'), got {tile_size}.")
        tile_overlap = min(tile_size) // 4 if tile_overlap is None else int(tile_overlap)
        if not 0 <= tile_overlap < min(tile_size):
            raise ValueError(f"tile_overlap must be in [0, {min(tile_size)}) for tile_size {tile_size}, "
                             f"got {tile_overlap}.")

    height, width = image.shape[:2]
    total = None
    count = 0
    for scale in scales:
        size = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
        scaled = _resize(image, size)
        for flipped in ((False, True) if flip else (False,)):
            x = scaled[:, ::-1] if flipped else scaled
            if tile_size is None or (x.shape[0] <= tile_size[0] and x.shape[1] <= tile_size[1]
                                     and predictor.fixed_size is None):
                logits = _whole(predictor, np.ascontiguousarray(x))
            else:
                logits = _tiled(predictor, np.ascontiguousarray(x), tile_size, tile_overlap, blend, int(batch_size))
            if flipped:
                logits = logits[:, ::-1]
            logits = _resize(np.ascontiguousarray(logits), (height, width))
            total = logits if total is None else total + logits
            count += 1
    return (total / count).astype(np.float32)
