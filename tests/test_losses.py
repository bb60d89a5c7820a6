import keras
import numpy as np
import pytest

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
