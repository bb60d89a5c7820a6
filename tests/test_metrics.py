import numpy as np
import pytest
import tensorflow as tf

from kerasseg.metrics import MeanIoU


def numpy_confusion(labels, preds, n, ignore=255):
    keep = labels != ignore
    return np.bincount(labels[keep] * n + preds[keep], minlength=n * n).reshape(n, n)


def test_matches_numpy_confusion_matrix_over_batches():
    rng = np.random.default_rng(0)
    n = 5
    metric = MeanIoU(n)
    cm = np.zeros((n, n), np.int64)
    for _ in range(4):
        labels = rng.integers(0, n, (3, 16, 16))
        labels[rng.random(labels.shape) < 0.1] = 255
        logits = rng.normal(size=(3, 16, 16, n)).astype(np.float32)
        metric.update_state(labels, logits)
        cm += numpy_confusion(labels, logits.argmax(-1), n)
    np.testing.assert_array_equal(metric.confusion_matrix(), cm)
    tp = np.diag(cm)
    iou = tp / (cm.sum(0) + cm.sum(1) - tp)
    np.testing.assert_allclose(metric.per_class_iou(), iou, atol=1e-12)
    assert abs(float(metric.result()) - iou.mean()) < 1e-6
    metric.reset_state()
    assert metric.confusion_matrix().sum() == 0


def test_absent_class_is_nan_and_left_out_of_mean():
    metric = MeanIoU(3, from_logits=False)
    metric.update_state(np.array([[0, 0, 1]]), np.array([[0, 1, 1]]))
    per_class = metric.per_class_iou()
    assert np.isnan(per_class[2])
    np.testing.assert_allclose(per_class[:2], [0.5, 0.5])
    assert abs(float(metric.result()) - 0.5) < 1e-7


def test_counts_do_not_saturate_past_float32():
    metric = MeanIoU(2, from_logits=False)
    big = tf.zeros([1, 4096, 4097], tf.int32)  # 16,781,312 pixels > 2**24
    metric.update_state(big, big)
    metric.update_state(tf.ones([1, 1, 1], tf.int32), tf.zeros([1, 1, 1], tf.int32))
    assert metric.confusion_matrix()[0, 0] == 4096 * 4097
    assert metric.confusion_matrix()[1, 0] == 1


def test_label_out_of_range_is_an_error():
    metric = MeanIoU(3, from_logits=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes=3"):
        metric.update_state(np.array([[0, 3]]), np.array([[0, 1]]))
