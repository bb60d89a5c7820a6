"""Class statistics of a segmentation dataset: pixel frequencies, ENet and median-frequency class weights.

Everything comes from one streaming pass (`pixel_statistics`) that never holds more than a batch in memory.
`model.fit(class_weight=...)` does not work for [B, H, W] targets; per-pixel class weights belong in the loss
(`kerasseg.losses.SegmentationCrossEntropy(num_classes, class_weights=...)`) or in the tf.data pipeline.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from kerasseg.data import IGNORE_CLASS
from kerasseg.errors import UnknownNameError

WEIGHTINGS = ("enet", "median_frequency")


@dataclasses.dataclass
class PixelStatistics:
    """Pixel counts of a dataset.

    Attributes:
        counts: int64 [num_classes] labelled pixels of each class.
        image_pixels: int64 [num_classes] labelled pixels of the images in which the class appears (the
            denominator of median-frequency balancing).
        images: int64 [num_classes] number of images in which the class appears.
        num_images: number of images.
        ignored_pixels: pixels equal to `ignore_class`.
    """

    counts: np.ndarray
    image_pixels: np.ndarray
    images: np.ndarray
    num_images: int
    ignored_pixels: int

    @property
    def frequencies(self):
        """float64 [num_classes]: share of each class among all labelled pixels (sums to 1)."""
        total = self.counts.sum()
        if total == 0:
            raise ValueError("the dataset has no labelled pixels (all are ignored, or it is empty)")
        return self.counts.astype(np.float64) / float(total)

    def enet_weights(self, c=1.02):
        """ENet weights w = 1 / ln(c + p) (Paszke et al. 2016, section 5.2); float32 [num_classes]."""
        if not c > 1.0:
            raise ValueError(f"c must be > 1 (so that every weight is positive and finite); got {c!r}")
        return (1.0 / np.log(c + self.frequencies)).astype(np.float32)

    def median_frequency_weights(self):
        """Median-frequency balancing (Eigen & Fergus 2015): w = median(f) / f with f = counts / image_pixels,
        the class's share of the labelled pixels of the images it appears in; float32 [num_classes].
        A class that never appears gets weight 0 (it contributes no pixels to a loss anyway)."""
        present = self.image_pixels > 0
        if not present.any():
            raise ValueError("the dataset has no labelled pixels (all are ignored, or it is empty)")
        frequency = np.zeros(len(self.counts), np.float64)
        frequency[present] = self.counts[present] / self.image_pixels[present]
        weights = np.zeros(len(self.counts), np.float64)
        weights[present] = np.median(frequency[present]) / frequency[present]
        return weights.astype(np.float32)

    def weights(self, method):
        """Class weights by `method`: "enet" or "median_frequency"."""
        if method == "enet":
            return self.enet_weights()
        if method == "median_frequency":
            return self.median_frequency_weights()
        raise UnknownNameError("class weighting", method, WEIGHTINGS)

    def to_dict(self, class_names=None):
        """JSON-ready summary: per-class pixels, frequency, images, ENet and median-frequency weights."""
        names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(len(self.counts))]
        frequencies, enet, median = self.frequencies, self.enet_weights(), self.median_frequency_weights()
        return {
            "num_images": int(self.num_images),
            "labelled_pixels": int(self.counts.sum()),
            "ignored_pixels": int(self.ignored_pixels),
            "classes": [
                {"index": k, "name": names[k], "pixels": int(self.counts[k]), "frequency": float(frequencies[k]),
                 "images": int(self.images[k]), "enet_weight": float(enet[k]),
                 "median_frequency_weight": float(median[k])}
                for k in range(len(self.counts))
            ],
        }

    def table(self, class_names=None):
        """Plain-text table of the `to_dict` summary."""
        summary = self.to_dict(class_names)
        width = max(len("class"), *(len(c["name"]) for c in summary["classes"]))
        lines = [f"{'class':<{width}}  {'pixels':>12}  {'freq':>7}  {'images':>6}  {'enet w':>7}  {'medfreq w':>9}",
                 f"{'-' * width}  {'-' * 12}  {'-' * 7}  {'-' * 6}  {'-' * 7}  {'-' * 9}"]
        for c in summary["classes"]:
            lines.append(f"{c['name']:<{width}}  {c['pixels']:>12,}  {c['frequency']:7.4f}  {c['images']:>6}  "
                         f"{c['enet_weight']:7.3f}  {c['median_frequency_weight']:9.3f}")
        lines.append(f"{summary['num_images']} images, {summary['labelled_pixels']:,} labelled and "
                     f"{summary['ignored_pixels']:,} ignored pixels")
        return "\n".join(lines)


_COUNT_BATCH = 64


def _check_num_classes(num_classes):
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")


_FUSE_MAPS = tf.data.Options()
_FUSE_MAPS.experimental_optimization.map_fusion = True


def pixel_statistics(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Count labelled pixels per class, per image, in one streaming pass over a dataset.

    Args:
        dataset: `tf.data.Dataset` of (image, label, ...) with int labels, batched ([B, H, W]) or not ([H, W]).
            Batches padded with `ignore_class` (as `eval_pipeline` pads) count correctly.
        num_classes: number of classes; every label value must be in [0, num_classes) or equal `ignore_class`.
        ignore_class: label value that is not counted.

    Returns:
        A `PixelStatistics`.

    Raises:
        tf.errors.InvalidArgumentError: a label value outside [0, num_classes) that is not `ignore_class`.
    """
    _check_num_classes(num_classes)

    def count(label):
        label = tf.cast(label, tf.int64)
        if label.shape.rank == 4:
            label = tf.squeeze(label, -1)
        if label.shape.rank == 2:
            label = label[None]
        label = tf.reshape(label, [tf.shape(label)[0], -1])
        ignored = tf.equal(label, ignore_class)
        valid = tf.boolean_mask(label, tf.logical_not(ignored))
        in_range = tf.reduce_all(tf.logical_and(valid >= 0, valid < num_classes))
        check = tf.debugging.Assert(
            in_range,
            [f"label values outside [0, {num_classes}) that are not ignore_class={ignore_class}; min/max:",
             tf.reduce_min(valid), tf.reduce_max(valid)],
        )
        with tf.control_dependencies([check]):
            binned = tf.where(ignored, tf.constant(num_classes, tf.int64), label)
            per_image = tf.math.bincount(binned, minlength=num_classes + 1, maxlength=num_classes + 1,
                                         dtype=tf.int64, axis=-1)[:, :num_classes]
        labelled = tf.reduce_sum(per_image, axis=1, keepdims=True)
        present = per_image > 0
        return (tf.reduce_sum(per_image, 0),
                tf.reduce_sum(tf.where(present, labelled, 0), 0),
                tf.reduce_sum(tf.cast(present, tf.int64), 0),
                tf.cast(tf.shape(label)[0], tf.int64),
                tf.reduce_sum(tf.cast(ignored, tf.int64)))

    zeros = tf.zeros([num_classes], tf.int64)
    initial = (zeros, zeros, zeros, tf.constant(0, tf.int64), tf.constant(0, tf.int64))
    if not isinstance(dataset.element_spec, tuple) or len(dataset.element_spec) < 2:
        raise ValueError(f"dataset elements must be (image, label) tuples; got {dataset.element_spec}")
    # Only the labels are read. With map fusion this map joins the dataset's own last map into one function, and
    # the function runtime prunes what only the images needed (decoding a file, drawing a synthetic image):
    # 3x faster on the shapes dataset, the same counts.
    labels = dataset.map(lambda *sample: sample[1]).with_options(_FUSE_MAPS)
    label_spec = labels.element_spec
    if label_spec.shape.rank == 2 and label_spec.shape.is_fully_defined():
        labels = labels.batch(_COUNT_BATCH)  # same-size samples: counted many at a time (fewer, larger ops)
    totals = labels.map(count, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).reduce(
        initial, lambda total, c: tuple(t + x for t, x in zip(total, c)))
    counts, image_pixels, images, num_images, ignored = (t.numpy() for t in totals)
    return PixelStatistics(counts=counts, image_pixels=image_pixels, images=images, num_images=int(num_images),
                           ignored_pixels=int(ignored))


def class_counts(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Labelled pixels per class (numpy int64 [num_classes]); see `pixel_statistics`."""
    return pixel_statistics(dataset, num_classes, ignore_class).counts


def class_frequencies(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Pixel frequency p_c of every class among the labelled (non-ignored) pixels of a dataset.

    Returns:
        (frequencies, counts): numpy float64 [num_classes] summing to 1, and numpy int64 [num_classes] pixel counts.

    Raises:
        ValueError: the dataset has no labelled pixels.
    """
    stats = pixel_statistics(dataset, num_classes, ignore_class)
    return stats.frequencies, stats.counts


def enet_class_weights(dataset, num_classes, ignore_class=IGNORE_CLASS, c=1.02):
    """ENet class weights w_c = 1 / ln(c + p_c) (Paszke et al. 2016, section 5.2), p_c the pixel frequency.

    The weights lie between 1 / ln(1 + c) (a class covering every pixel) and 1 / ln(c) (an absent class:
    50.5 for c = 1.02).

    Args:
        dataset: `tf.data.Dataset` of (image, label), batched or not.
        num_classes: number of classes.
        ignore_class: label value that is not counted.
        c: the constant of the formula, > 1 (the paper uses 1.02).

    Returns:
        numpy float32 array [num_classes] of weights.
    """
    if not c > 1.0:
        raise ValueError(f"c must be > 1 (so that every weight is positive and finite); got {c!r}")
    return pixel_statistics(dataset, num_classes, ignore_class).enet_weights(c)


def median_frequency_weights(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Median-frequency class weights (Eigen & Fergus 2015), as SegNet uses; see
    `PixelStatistics.median_frequency_weights`. numpy float32 [num_classes]."""
    return pixel_statistics(dataset, num_classes, ignore_class).median_frequency_weights()
