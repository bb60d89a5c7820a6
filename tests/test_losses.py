import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.losses import SegmentationCrossEntropy


def numpy_ce(labels, logits, weights=None, ignore=255):
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != ignore
    lab = labels[valid]
    ce = -log_p[valid][np.arange(lab.size), lab]
    w = np.ones_like(ce) if weights is None else np.asarray(weights)[lab]
    return (w * ce).sum() / w.sum()


@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0, 3.0]])
def test_matches_numpy_with_ignore_and_weights(weights):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (2, 5, 6)).astype(np.int32)
    labels[0, :2] = 255
    logits = rng.normal(size=(2, 5, 6, 4)).astype(np.float32)
    got = float(SegmentationCrossEntropy(4, class_weights=weights)(labels, logits))
    np.testing.assert_allclose(got, numpy_ce(labels, logits, weights), rtol=1e-5)


def test_all_ignored_batch_gives_zero_and_labels_with_channel_axis():
    loss = SegmentationCrossEntropy(3)
    assert float(loss(np.full((1, 2, 2), 255), np.zeros((1, 2, 2, 3), np.float32))) == 0.0
    labels = np.array([[[0, 1], [2, 1]]])
    logits = np.random.default_rng(1).normal(size=(1, 2, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(float(loss(labels[..., None], logits)), float(loss(labels, logits)), rtol=1e-6)


def test_bad_class_weights_and_serialization():
    with pytest.raises(ValueError, match="num_classes=3"):
        SegmentationCrossEntropy(3, class_weights=[1, 2])
    loss = SegmentationCrossEntropy(2, class_weights=[1.0, 4.0], ignore_class=0)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.class_weights == [1.0, 4.0] and clone.ignore_class == 0


# ------------------------------------------------------------------ Dice, focal, OHEM, Lovász, weighted sum
from kerasseg.losses import (DiceLoss, FocalLoss, LovaszSoftmaxLoss, OhemCrossEntropy,  # noqa: E402
                             WeightedSumLoss, make_loss)


def _softmax64(logits):
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def numpy_dice(labels, logits, num_classes, smooth=1.0, ignore=255):
    valid = labels != ignore
    p = _softmax64(logits)[valid]
    g = np.eye(num_classes)[labels[valid]]
    dice = (2 * (p * g).sum(0) + smooth) / (p.sum(0) + g.sum(0) + smooth)
    return 1 - dice.mean()


def numpy_focal(labels, logits, gamma, weights=None, ignore=255):
    valid = labels != ignore
    lab = labels[valid]
    pt = _softmax64(logits)[valid][np.arange(lab.size), lab]
    w = np.ones_like(pt) if weights is None else np.asarray(weights, np.float64)[lab]
    return (w * -(1 - pt) ** gamma * np.log(pt)).sum() / w.sum()


def numpy_ohem(labels, logits, threshold, min_kept, ignore=255):
    valid = (labels != ignore).ravel()
    lab = labels.ravel()[valid]
    p = _softmax64(logits).reshape(-1, logits.shape[-1])[valid]
    pt = p[np.arange(lab.size), lab]
    if lab.size > min_kept:
        kth = np.sort(pt)[min_kept - 1]
        keep = pt <= max(kth, threshold)
    else:
        keep = np.ones_like(pt, bool)
    return -np.log(pt[keep]).mean()


def numpy_lovasz(labels, logits, num_classes, ignore=255):
    valid = labels != ignore
    lab = labels[valid]
    p = _softmax64(logits)[valid]
    losses = []
    for c in range(num_classes):
        fg = (lab == c).astype(np.float64)
        if fg.sum() == 0:
            continue
        errors = np.abs(fg - p[:, c])
        order = np.argsort(-errors, kind="stable")
        e, f = errors[order], fg[order]
        intersection = f.sum() - np.cumsum(f)
        union = f.sum() + np.cumsum(1 - f)
        jaccard = 1 - intersection / union
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
        losses.append(e @ jaccard)
    return np.mean(losses) if losses else 0.0


@pytest.fixture
def batch():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (2, 6, 5)).astype(np.int32)
    labels[1, :3] = 255
    labels[0, 0, :] = 3
    logits = rng.normal(scale=2.0, size=(2, 6, 5, 4)).astype(np.float32)
    return labels, logits


def _ignored_pixels_change_nothing(loss, labels, logits):
    """Logits of ignored pixels are scrambled: the loss and its gradient there must not change / be zero."""
    import tensorflow as tf

    scrambled = logits.copy()
    scrambled[labels == 255] = np.random.default_rng(5).normal(scale=50, size=(int((labels == 255).sum()), 4))
    np.testing.assert_allclose(float(loss(labels, scrambled)), float(loss(labels, logits)), rtol=1e-6)
    x = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(labels, x)
    gradient = tape.gradient(value, x).numpy()
    assert np.all(gradient[labels == 255] == 0) and np.any(gradient[labels != 255] != 0)


def test_dice_matches_numpy(batch):
    labels, logits = batch
    loss = DiceLoss(4)
    np.testing.assert_allclose(float(loss(labels, logits)), numpy_dice(labels, logits, 4), rtol=1e-5)
    _ignored_pixels_change_nothing(loss, labels, logits)


@pytest.mark.parametrize("gamma, weights", [(2.0, None), (0.5, [1.0, 2.0, 0.5, 3.0]), (0.0, None)])
def test_focal_matches_numpy(batch, gamma, weights):
    labels, logits = batch
    loss = FocalLoss(4, gamma=gamma, class_weights=weights)
    np.testing.assert_allclose(float(loss(labels, logits)), numpy_focal(labels, logits, gamma, weights), rtol=1e-5)
    _ignored_pixels_change_nothing(loss, labels, logits)
    if gamma == 0.0:  # gamma 0 is cross-entropy
        np.testing.assert_allclose(float(loss(labels, logits)), numpy_ce(labels, logits), rtol=1e-5)


@pytest.mark.parametrize("threshold, min_kept", [(0.7, 10), (0.05, 10), (0.7, 1000), (0.3, 25)])
def test_ohem_matches_numpy(batch, threshold, min_kept):
    labels, logits = batch
    loss = OhemCrossEntropy(4, threshold=threshold, min_kept=min_kept)
    np.testing.assert_allclose(float(loss(labels, logits)), numpy_ohem(labels, logits, threshold, min_kept),
                               rtol=1e-5)
    _ignored_pixels_change_nothing(loss, labels, logits)


def test_lovasz_matches_numpy(batch):
    labels, logits = batch
    loss = LovaszSoftmaxLoss(4)
    np.testing.assert_allclose(float(loss(labels, logits)), numpy_lovasz(labels, logits, 4), rtol=1e-5)
    _ignored_pixels_change_nothing(loss, labels, logits)
    assert float(loss(np.full((1, 2, 2), 255), np.zeros((1, 2, 2, 4), np.float32))) == 0.0


def test_weighted_sum_from_the_recipe_and_serialization(batch):
    labels, logits = batch
    loss = make_loss({"cross_entropy": 1.0, "dice": 0.5, "lovasz": 2.0}, 4)
    assert isinstance(loss, WeightedSumLoss)
    expected = numpy_ce(labels, logits) + 0.5 * numpy_dice(labels, logits, 4) + 2 * numpy_lovasz(labels, logits, 4)
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    np.testing.assert_allclose(float(restored(labels, logits)), expected, rtol=1e-5)
    assert isinstance(make_loss("focal", 4, focal_gamma=1.0), FocalLoss)
    assert isinstance(make_loss({"ohem": 1.0}, 4), OhemCrossEntropy)


@pytest.mark.parametrize("spec", ["cross_entropy", "focal", {"cross_entropy": 1.0, "focal": 0.5}])
def test_replica_shares_sum_to_the_global_batch_loss(spec):
    """Two replicas, each with half of the batch and unevenly many ignored pixels: the shares add up to the
    loss of the whole batch (what one device computes), not to the mean of the halves' losses."""
    from kerasseg.losses import make_loss, replica_loss

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (4, 6, 6)).astype(np.int32)
    labels[:2, :5] = 255  # the first replica's half is mostly padding
    logits = rng.normal(size=(4, 6, 6, 4)).astype(np.float32)
    loss = make_loss(spec, 4, class_weights=[0.5, 2.0, 1.0, 3.0])
    halves = [(tf.constant(labels[:2]), tf.constant(logits[:2])), (tf.constant(labels[2:]), tf.constant(logits[2:]))]
    weight_sums = [float(sum(np.asarray(w.pixel_sums(y, p)[1]) for y, p in halves))
                   for w in getattr(loss, "losses", [loss])]
    weight_sum = weight_sums[0]  # the same for every term: they weight pixels alike

    def all_reduce_sum(value):
        return np.float32(weight_sum)

    shares = [float(replica_loss(loss, y, p, 2, all_reduce_sum)) for y, p in halves]
    np.testing.assert_allclose(sum(shares), float(loss(labels, logits)), rtol=1e-5)
    assert abs(np.mean([float(loss(y, p)) for y, p in halves]) - float(loss(labels, logits))) > 1e-3


def test_batch_level_losses_are_averaged_over_replicas(batch):
    from kerasseg.losses import DiceLoss, replica_loss

    labels, logits = batch
    loss = DiceLoss(4)
    got = float(replica_loss(loss, tf.constant(labels), tf.constant(logits), 2, lambda value: value))
    np.testing.assert_allclose(got, float(loss(labels, logits)) / 2, rtol=1e-6)
