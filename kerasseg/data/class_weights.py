"""Class statistics of a segmentation dataset: pixel frequencies and ENet class weights."""
import numpy as np
import tensorflow as tf

from kerasseg.data import IGNORE_CLASS


def class_counts(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Count labelled pixels per class in one streaming pass over a dataset.

    Args:
        dataset: `tf.data.Dataset` of (image, label) with int labels, batched ([B, H, W]) or not ([H, W]).
        num_classes: number of classes; every label value must be in [0, num_classes) or equal `ignore_class`.
        ignore_class: label value that is not counted.

    Returns:
        numpy int64 array [num_classes] of pixel counts.

    Raises:
        tf.errors.InvalidArgumentError: a label value outside [0, num_classes) that is not `ignore_class`.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")

    def count(*sample):
        if len(sample) < 2:
            raise ValueError("dataset elements must be (image, label) tuples")
        label = tf.reshape(tf.cast(sample[1], tf.int64), [-1])
        label = tf.boolean_mask(label, tf.not_equal(label, ignore_class))
        in_range = tf.reduce_all(tf.logical_and(label >= 0, label < num_classes))
        check = tf.debugging.Assert(
            in_range,
            [f"label values outside [0, {num_classes}) that are not ignore_class={ignore_class}; min/max:",
             tf.reduce_min(label), tf.reduce_max(label)],
        )
        with tf.control_dependencies([check]):
            return tf.math.bincount(label, minlength=num_classes, maxlength=num_classes, dtype=tf.int64)

    counts = dataset.map(count, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).reduce(
        tf.zeros([num_classes], tf.int64), lambda total, c: total + c
    )
    return counts.numpy()


def class_frequencies(dataset, num_classes, ignore_class=IGNORE_CLASS):
    """Pixel frequency p_c of every class among the labelled (non-ignored) pixels of a dataset.

    Args:
        dataset: `tf.data.Dataset` of (image, label), batched or not.
        num_classes: number of classes.
        ignore_class: label value that is not counted.

    Returns:
        (frequencies, counts): numpy float64 [num_classes] summing to 1, and numpy int64 [num_classes] pixel counts.

    Raises:
        ValueError: the dataset has no labelled pixels.
    """
    counts = class_counts(dataset, num_classes, ignore_class)
    total = counts.sum()
    if total == 0:
        raise ValueError(f"the dataset has no labelled pixels (all are ignore_class={ignore_class} or it is empty)")
    return counts.astype(np.float64) / float(total), counts


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
    frequencies, _ = class_frequencies(dataset, num_classes, ignore_class)
    return (1.0 / np.log(c + frequencies)).astype(np.float32)
