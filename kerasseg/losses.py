"""Segmentation losses."""
import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class SegmentationCrossEntropy(keras.losses.Loss):
    """Per-pixel softmax cross-entropy from logits that skips ignored pixels, with optional class weights.

    With class weights w, the loss is the weighted mean sum_i w[y_i] * CE_i / sum_i w[y_i] over the pixels i
    whose label is not `ignore_class` (PyTorch's `CrossEntropyLoss(weight=w, ignore_index=255)`); without,
    the plain mean over those pixels. A batch whose pixels are all ignored gives 0.

    Args:
        num_classes: number of classes (logit channels); labels must lie in [0, num_classes) or equal
            `ignore_class`.
        ignore_class: label value that contributes nothing (default 255).
        class_weights: optional sequence of `num_classes` non-negative weights, e.g. from
            `kerasseg.data.enet_class_weights`.
        name: loss name.

    Returns (when called):
        Scalar loss for `y_true` int [B, H, W] and `y_pred` logits [B, H, W, num_classes].
    """

    def __init__(self, num_classes, ignore_class=255, class_weights=None, name="segmentation_cross_entropy",
                 **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        if class_weights is not None:
            class_weights = [float(w) for w in np.asarray(class_weights, dtype=np.float64).ravel()]
            if len(class_weights) != self.num_classes:
                raise ValueError(
                    f"class_weights has {len(class_weights)} entries, expected num_classes={self.num_classes}."
                )
            if min(class_weights) < 0:
                raise ValueError("class_weights must be non-negative.")
        self.class_weights = class_weights

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, tf.int32)
        if labels.shape.rank == y_pred.shape.rank:  # [B, H, W, 1] labels
            labels = tf.squeeze(labels, -1)
        logits = tf.cast(y_pred, tf.float32)
        valid = tf.not_equal(labels, self.ignore_class) if self.ignore_class is not None else tf.ones_like(
            labels, tf.bool)
        safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
        weights = tf.cast(valid, tf.float32)
        if self.class_weights is not None:
            weights *= tf.gather(tf.constant(self.class_weights, tf.float32), safe_labels)
        return tf.math.divide_no_nan(tf.reduce_sum(ce * weights), tf.reduce_sum(weights))

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "class_weights": self.class_weights}
