"""Exact streaming mean IoU with an ignore label."""
import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class MeanIoU(keras.metrics.Metric):
    """Streaming mean intersection-over-union from an int64 confusion matrix.

    Unlike `keras.metrics.MeanIoU`, which accumulates in float32 and stops counting exactly past 2**24 pixels
    per cell (16.7M: a few hundred CamVid frames), the counts here are int64. Pixels whose label equals
    `ignore_class` are skipped. The mean is over the classes that occur in the labels or the predictions
    (a class with an empty union has no defined IoU and is left out, as in the usual benchmarks).

    Args:
        num_classes: number of classes.
        ignore_class: label value to skip (default 255).
        from_logits: when True, `y_pred` holds logits/probabilities [B, H, W, C] and is arg-maxed; when False
            it holds class indices [B, H, W].
        name: metric name (`mean_iou`, so Keras logs `mean_iou` and `val_mean_iou`).

    Returns (from `result()`):
        The mean IoU as a float32 scalar; `per_class_iou()` gives the per-class values (NaN where undefined)
        and `confusion_matrix()` the counts (rows: label, columns: prediction).
    """

    def __init__(self, num_classes, ignore_class=255, from_logits=True, name="mean_iou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.from_logits = from_logits
        self.total_cm = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", dtype="int64", name="total_cm",
            aggregation="sum",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("MeanIoU counts pixels exactly; sample_weight is not supported.")
        n = self.num_classes
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        if self.from_logits:
            y_pred = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        preds = tf.reshape(tf.cast(y_pred, tf.int32), [-1])
        valid = tf.ones_like(labels, tf.bool) if self.ignore_class is None else tf.not_equal(labels, self.ignore_class)
        tf.debugging.assert_less(
            tf.where(valid, labels, 0), n,
            message=f"MeanIoU: a label is >= num_classes={n} and is not ignore_class",
        )
        tf.debugging.assert_non_negative(labels, message="MeanIoU: negative label")
        # Ignored pixels go to one extra cell that is dropped; static shapes throughout, so XLA compiles it.
        cells = tf.where(valid, labels * n + preds, n * n)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(cells), cells, n * n + 1)[: n * n]
        self.total_cm.assign_add(tf.reshape(tf.cast(counts, tf.int64), [n, n]))

    def _iou(self):
        cm = tf.cast(self.total_cm, tf.float64)
        tp = tf.linalg.diag_part(cm)
        union = tf.reduce_sum(cm, 0) + tf.reduce_sum(cm, 1) - tp
        return tp, union

    def result(self):
        tp, union = self._iou()
        present = union > 0
        return tf.cast(
            tf.math.divide_no_nan(
                tf.reduce_sum(tf.where(present, tp / tf.where(present, union, 1.0), 0.0)),
                tf.reduce_sum(tf.cast(present, tf.float64)),
            ),
            tf.float32,
        )

    def per_class_iou(self):
        """Returns a float64 numpy array [num_classes] of IoUs, NaN for classes with an empty union."""
        tp, union = (np.asarray(t) for t in self._iou())
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)

    def confusion_matrix(self):
        """Returns the int64 numpy confusion matrix (rows: label, columns: prediction)."""
        return np.asarray(self.total_cm)

    def reset_state(self):
        self.total_cm.assign(tf.zeros_like(self.total_cm))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "from_logits": self.from_logits}
