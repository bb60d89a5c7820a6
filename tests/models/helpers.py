"""Helpers shared by the model tests: a short eager training loop and tiny data."""
import keras
import numpy as np
import tensorflow as tf

from kerasseg.losses import SegmentationCrossEntropy


def tiny_batch(size, num_classes, batch=2, seed=0):
    """Images with one bright square each and matching labels (class k inside, 0 outside)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 60, (batch, *size, 3)).astype(np.float32)
    labels = np.zeros((batch, *size), np.int32)
    h, w = size
    for i in range(batch):
        top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        cls = 1 + i % (num_classes - 1)
        labels[i, top:top + h // 2, left:left + w // 2] = cls
        images[i, top:top + h // 2, left:left + w // 2] += 40.0 * cls
    return images, labels


def overfit(model, images, labels, steps, learning_rate=0.05):
    """Trains `model` on one batch for `steps` SGD (momentum 0.9) steps; returns the list of losses.

    A `tf.function` step with SGD: tracing a Keras 3 Adam update costs about a minute on the CI machine. After
    training, batch-norm moving statistics are set to this batch's statistics (one forward pass with momentum
    0), so the model in inference mode predicts what it learned: the export tests compare formats on it.
    """
    loss_fn = SegmentationCrossEntropy(model.output_shape[-1])
    optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9)
    images, labels = tf.constant(images), tf.constant(labels)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(steps)]
    recalibrate_batch_norm(model, images)
    return losses


def recalibrate_batch_norm(model, images):
    """Sets every BN layer's moving statistics to the statistics of `images` (one training-mode pass).

    After a few dozen training steps the moving statistics (momentum 0.9-0.99) still lag the weights; tests that
    compare a briefly trained model in inference mode (export parity) set them from the batch it learned.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
