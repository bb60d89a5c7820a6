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

    def pixel_sums(self, y_true, y_pred):
        """(sum_i w[y_i] * CE_i, sum_i w[y_i]) over the non-ignored pixels: the loss is their ratio."""
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
        return tf.reduce_sum(ce * weights), tf.reduce_sum(weights)

    def call(self, y_true, y_pred):
        return tf.math.divide_no_nan(*self.pixel_sums(y_true, y_pred))

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "class_weights": self.class_weights}


def _labels_and_logits(y_true, y_pred, ignore_class):
    """Flattens labels to int32 [N] and logits to float32 [N, C]; returns (safe labels, logits, valid mask)."""
    labels = tf.cast(y_true, tf.int32)
    if labels.shape.rank == y_pred.shape.rank:  # [B, H, W, 1] labels
        labels = tf.squeeze(labels, -1)
    num_classes = tf.shape(y_pred)[-1]
    labels = tf.reshape(labels, [-1])
    logits = tf.reshape(tf.cast(y_pred, tf.float32), [-1, num_classes])
    valid = tf.not_equal(labels, ignore_class) if ignore_class is not None else tf.ones_like(labels, tf.bool)
    return tf.where(valid, labels, tf.zeros_like(labels)), logits, valid


class _SegmentationLoss(keras.losses.Loss):
    """Base: a scalar loss over all pixels of the batch, pixels labelled `ignore_class` contributing nothing."""

    def __init__(self, num_classes, ignore_class=255, name=None, **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "num_classes": self.num_classes, "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="kerasseg")
class DiceLoss(_SegmentationLoss):
    """Soft multi-class Dice loss (Milletari et al. 2016, V-Net, arXiv 1606.04797), ignore-aware.

    With softmax probabilities p and one-hot labels g over the non-ignored pixels of the batch,
    loss = 1 - mean_c (2 sum p_c g_c + smooth) / (sum p_c + sum g_c + smooth).

    Args:
        num_classes: number of classes.
        ignore_class: label value that contributes nothing (default 255).
        smooth: additive smoothing (a class absent from both labels and predictions scores 1).
        name: loss name.

    Returns (when called):
        Scalar loss for `y_true` int [B, H, W] and `y_pred` logits [B, H, W, C].
    """

    def __init__(self, num_classes, ignore_class=255, smooth=1.0, name="dice_loss", **kwargs):
        super().__init__(num_classes, ignore_class, name=name, **kwargs)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        labels, logits, valid = _labels_and_logits(y_true, y_pred, self.ignore_class)
        mask = tf.cast(valid, tf.float32)[:, None]
        probs = tf.nn.softmax(logits) * mask
        onehot = tf.one_hot(labels, self.num_classes) * mask
        intersection = tf.reduce_sum(probs * onehot, 0)
        denominator = tf.reduce_sum(probs, 0) + tf.reduce_sum(onehot, 0)
        return 1.0 - tf.reduce_mean((2.0 * intersection + self.smooth) / (denominator + self.smooth))

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="kerasseg")
class FocalLoss(_SegmentationLoss):
    """Softmax focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", arXiv 1708.02002).

    Per pixel -(1 - p_t) ** gamma * log p_t with p_t the probability of the true class; the mean over the
    non-ignored pixels (weighted by `class_weights` of the true class, as `SegmentationCrossEntropy`).

    Args:
        num_classes: number of classes.
        ignore_class: label value that contributes nothing (default 255).
        gamma: focusing parameter (0 gives cross-entropy).
        class_weights: optional `num_classes` non-negative weights.
        name: loss name.

    Returns (when called):
        Scalar loss.
    """

    def __init__(self, num_classes, ignore_class=255, gamma=2.0, class_weights=None, name="focal_loss",
                 **kwargs):
        super().__init__(num_classes, ignore_class, name=name, **kwargs)
        self.gamma = float(gamma)
        self.class_weights = _check_class_weights(class_weights, self.num_classes)

    def pixel_sums(self, y_true, y_pred):
        """(weighted sum of the per-pixel focal terms, sum of the weights): the loss is their ratio."""
        labels, logits, valid = _labels_and_logits(y_true, y_pred, self.ignore_class)
        log_p = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        focal = -tf.pow(1.0 - tf.exp(log_p), self.gamma) * log_p
        weights = _pixel_weights(labels, valid, self.class_weights)
        return tf.reduce_sum(focal * weights), tf.reduce_sum(weights)

    def call(self, y_true, y_pred):
        return tf.math.divide_no_nan(*self.pixel_sums(y_true, y_pred))

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="kerasseg")
class OhemCrossEntropy(_SegmentationLoss):
    """Online hard example mining cross-entropy, as in the PSPNet / SFNet training code.

    Hard pixels are those whose true-class probability is at most max(threshold, the `min_kept`-th smallest
    true-class probability of the batch); the loss is the (class-weighted) mean cross-entropy over them. With
    `min_kept` or fewer valid pixels, every valid pixel is kept. (Shrivastava et al. 2016, arXiv 1604.03540;
    Zhao et al. 2017, PSPNet; Li et al. 2020, SFNet.)

    Args:
        num_classes: number of classes.
        ignore_class: label value that contributes nothing (default 255).
        threshold: probability below which a pixel is hard (0.7 in those recipes).
        min_kept: at least this many pixels are kept per batch.
        class_weights: optional `num_classes` non-negative weights.
        name: loss name.

    Returns (when called):
        Scalar loss.
    """

    def __init__(self, num_classes, ignore_class=255, threshold=0.7, min_kept=100000, class_weights=None,
                 name="ohem_cross_entropy", **kwargs):
        super().__init__(num_classes, ignore_class, name=name, **kwargs)
        self.threshold = float(threshold)
        self.min_kept = int(min_kept)
        self.class_weights = _check_class_weights(class_weights, self.num_classes)

    def call(self, y_true, y_pred):
        labels, logits, valid = _labels_and_logits(y_true, y_pred, self.ignore_class)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        prob = tf.where(valid, tf.exp(-ce), tf.ones_like(ce) * 2.0)  # ignored pixels sort last
        num_valid = tf.reduce_sum(tf.cast(valid, tf.int32))
        k = tf.minimum(self.min_kept, tf.size(prob))
        kth = tf.sort(prob)[tf.maximum(k - 1, 0)]
        threshold = tf.maximum(kth, self.threshold)
        kept = tf.where(num_valid <= self.min_kept, valid, tf.logical_and(valid, prob <= threshold))
        weights = _pixel_weights(labels, kept, self.class_weights)
        return tf.math.divide_no_nan(tf.reduce_sum(tf.stop_gradient(weights) * ce), tf.reduce_sum(weights))

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "min_kept": self.min_kept,
                "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="kerasseg")
class LovaszSoftmaxLoss(_SegmentationLoss):
    """Lovász-softmax loss (Berman et al. 2018, arXiv 1705.08790): a convex surrogate of 1 - IoU per class.

    Over the non-ignored pixels of the batch, for every class present in the labels: the errors |g_c - p_c|
    sorted in decreasing order, dotted with the gradient of the Lovász extension of the Jaccard loss; the mean
    over those classes ("present" classes, per batch, as the authors' default).

    Args:
        num_classes: number of classes.
        ignore_class: label value that contributes nothing (default 255).
        name: loss name.

    Returns (when called):
        Scalar loss (0 when every pixel is ignored).
    """

    def __init__(self, num_classes, ignore_class=255, name="lovasz_softmax_loss", **kwargs):
        super().__init__(num_classes, ignore_class, name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels, logits, valid = _labels_and_logits(y_true, y_pred, self.ignore_class)
        labels = tf.boolean_mask(labels, valid)
        probs = tf.boolean_mask(tf.nn.softmax(logits), valid)
        losses, present = [], []
        for c in range(self.num_classes):
            foreground = tf.cast(tf.equal(labels, c), tf.float32)
            errors = tf.abs(foreground - probs[:, c])
            order = tf.argsort(errors, direction="DESCENDING")
            errors_sorted, foreground_sorted = tf.gather(errors, order), tf.gather(foreground, order)
            total = tf.reduce_sum(foreground_sorted)
            intersection = total - tf.cumsum(foreground_sorted)
            union = total + tf.cumsum(1.0 - foreground_sorted)
            jaccard = 1.0 - intersection / tf.maximum(union, 1.0)
            gradient = tf.concat([jaccard[:1], jaccard[1:] - jaccard[:-1]], 0)
            losses.append(tf.tensordot(errors_sorted, tf.stop_gradient(gradient), 1))
            present.append(tf.cast(total > 0, tf.float32))
        present = tf.stack(present)
        return tf.math.divide_no_nan(tf.reduce_sum(tf.stack(losses) * present), tf.reduce_sum(present))


@keras.saving.register_keras_serializable(package="kerasseg")
class WeightedSumLoss(keras.losses.Loss):
    """A weighted sum of segmentation losses, e.g. cross-entropy + 0.5 Dice.

    Args:
        losses: list of Keras losses (or their serialized configs).
        weights: one positive number per loss.
        name: loss name.

    Returns (when called):
        sum_i weights[i] * losses[i](y_true, y_pred).
    """

    def __init__(self, losses, weights, name="weighted_sum_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        self.losses = [keras.losses.deserialize(l) if isinstance(l, dict) else l for l in losses]
        self.weights = [float(w) for w in weights]
        if len(self.losses) != len(self.weights) or not self.losses:
            raise ValueError(f"losses ({len(self.losses)}) and weights ({len(self.weights)}) must be non-empty "
                             "and of the same length.")

    def call(self, y_true, y_pred):
        return tf.add_n([w * loss.call(y_true, y_pred) for loss, w in zip(self.losses, self.weights)])

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "losses": [keras.losses.serialize(l) for l in self.losses], "weights": self.weights}


def _check_class_weights(class_weights, num_classes):
    if class_weights is None:
        return None
    class_weights = [float(w) for w in np.asarray(class_weights, dtype=np.float64).ravel()]
    if len(class_weights) != num_classes:
        raise ValueError(f"class_weights has {len(class_weights)} entries, expected num_classes={num_classes}.")
    if min(class_weights) < 0:
        raise ValueError("class_weights must be non-negative.")
    return class_weights


def _pixel_weights(labels, valid, class_weights):
    weights = tf.cast(valid, tf.float32)
    if class_weights is not None:
        weights *= tf.gather(tf.constant(class_weights, tf.float32), labels)
    return weights


def replica_loss(loss, y_true, y_pred, num_replicas, all_reduce_sum):
    """One replica's share of the loss of a global batch split across replicas (`tf.distribute`).

    Summed over the replicas, the shares give the loss of the whole global batch for the losses that are a
    weighted mean over pixels (cross-entropy, focal, and their weighted sums): each replica divides its own sum
    by the all-reduced sum of pixel weights, so padding or ignored pixels spread unevenly over the replicas do
    not change the result, and the summed gradients are the one-device gradient. Losses computed over the whole
    batch at once (Dice, Lovasz, OHEM's hard-pixel selection) are computed per replica and averaged, as
    PyTorch's DistributedDataParallel does.

    Args:
        loss: a kerasseg loss.
        y_true: this replica's labels.
        y_pred: this replica's logits.
        num_replicas: replicas in sync.
        all_reduce_sum: function summing a scalar tensor over the replicas (the identity on one device).

    Returns:
        A scalar tensor.
    """
    if isinstance(loss, WeightedSumLoss):
        return tf.add_n([w * replica_loss(part, y_true, y_pred, num_replicas, all_reduce_sum)
                         for part, w in zip(loss.losses, loss.weights)])
    if hasattr(loss, "pixel_sums"):
        total, weight = loss.pixel_sums(y_true, y_pred)
        return tf.math.divide_no_nan(total, all_reduce_sum(tf.stop_gradient(weight)))
    return loss.call(y_true, y_pred) / num_replicas


LOSS_CLASSES = {"cross_entropy": SegmentationCrossEntropy, "dice": DiceLoss, "focal": FocalLoss,
                "ohem": OhemCrossEntropy, "lovasz": LovaszSoftmaxLoss}


def make_loss(spec, num_classes, ignore_class=255, class_weights=None, focal_gamma=2.0, ohem_threshold=0.7,
              ohem_min_kept=100000):
    """Builds the loss a recipe names (`train.loss`).

    Args:
        spec: a loss name (a key of `LOSS_CLASSES`) or a mapping {name: weight} summed with those weights.
        num_classes: number of classes.
        ignore_class: label value that contributes nothing.
        class_weights: class weights for the cross-entropy, focal and OHEM losses (Dice and Lovász are
            balanced by construction).
        focal_gamma, ohem_threshold, ohem_min_kept: options of the focal and OHEM losses.

    Returns:
        A `keras.losses.Loss` (a `WeightedSumLoss` for several, or one weighted term).
    """
    from kerasseg.errors import check_name

    spec = {spec: 1.0} if isinstance(spec, str) else dict(spec)
    losses = []
    for name in spec:
        check_name("loss", name, tuple(LOSS_CLASSES))
        options = {"num_classes": num_classes, "ignore_class": ignore_class}
        if name in ("cross_entropy", "focal", "ohem"):
            options["class_weights"] = class_weights
        if name == "focal":
            options["gamma"] = focal_gamma
        if name == "ohem":
            options.update(threshold=ohem_threshold, min_kept=ohem_min_kept)
        losses.append(LOSS_CLASSES[name](**options))
    if len(losses) == 1 and list(spec.values())[0] == 1.0:
        return losses[0]
    return WeightedSumLoss(losses, list(spec.values()))
