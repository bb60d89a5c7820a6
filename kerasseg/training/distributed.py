"""Data-parallel training on several devices or machines: one custom loop on `tf.distribute`.

`kerasseg train` trains on one device with `model.fit`; with `train.distribution: mirrored` (the local GPUs, or
logical CPU devices) or `multi_worker` (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG) it runs
`train_distributed`, because `model.fit` is not reliable under these strategies in Keras 3.15
(`MultiWorkerMirroredStrategy` + `model.fit` fails, keras-team/keras#20585; under `MirroredStrategy` it reported
twice the loss and trained to other weights than one device with the same global batch). The loop uses the same
pieces as `model.fit` does in `kerasseg.training.fit`: the compiled model and optimizer (with loss scaling under
mixed_float16), the recipe's loss, the deterministic augmentation stream, and the same callbacks (resumable
backups, best checkpoint, signals, NaN stop, CSV and TensorBoard logs).

    # on every machine, with the same recipe and an output_dir on storage all of them can read (NFS, GCS):
    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        kerasseg train --config recipe.yaml        # index 1 on host1, ...

Each global batch of `data.batch_size` is cut into one slice per replica (`distribute_datasets_from_function`:
every worker builds the same deterministic pipeline and keeps its part of each batch), and the loss is
normalised over the whole global batch (`kerasseg.losses.replica_loss`), so the gradient is the one-device
gradient of the same batch. Worker 0 (the chief) writes the backup, `best.keras` and the history; every worker
reads the backup when the run is restarted. A stop request (SIGINT / SIGTERM on any worker) and a NaN loss are
agreed on by all workers at the same step, so no worker is left waiting in a collective.
"""
import json
import math
import os

import numpy as np
import tensorflow as tf

from kerasseg.losses import replica_loss
from kerasseg.training.config import ConfigError


def cluster_from_tf_config():
    """Reads and checks TF_CONFIG.

    Returns:
        (worker addresses, this task's index).

    Raises:
        ConfigError: TF_CONFIG missing, not JSON, or without cluster.worker / task.index.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConfigError("train.distribution: multi_worker needs the TF_CONFIG environment variable, e.g. "
                          '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", '
                          '"index": 0}} (see README "Train on several GPUs / machines").')
    try:
        tf_config = json.loads(text)
        workers = list(tf_config["cluster"]["worker"])
        index = int(tf_config["task"]["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"TF_CONFIG is not a cluster spec with cluster.worker and task.index: {err}") from None
    if not 0 <= index < len(workers):
        raise ConfigError(f"TF_CONFIG task.index {index} is not one of the {len(workers)} workers.")
    return workers, index


def distribute_batches(strategy, make_stream, batch_size):
    """Splits the global batches of a stream over the strategy's replicas.

    Args:
        strategy: a `tf.distribute.Strategy`.
        make_stream: function returning the training stream of global batches (the same on every worker).
        batch_size: the global batch size (divisible by the replicas: `fit` checks the recipe).

    Returns:
        A distributed dataset whose replicas together see each global batch once, in the stream's order.
    """
    replicas = strategy.num_replicas_in_sync

    def dataset_fn(context):
        # This worker's slice of every global batch, cut into per-replica batches for its local replicas.
        per_worker = batch_size // context.num_input_pipelines
        start = context.input_pipeline_id * per_worker

        def part(images, labels):
            return tf.nest.map_structure(lambda t: t[start:start + per_worker], (images, labels))

        return make_stream().map(part).unbatch().batch(batch_size // replicas, drop_remainder=True)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)


def output_loss(loss, loss_weights, labels, outputs, num_replicas, all_reduce_sum):
    """This replica's share of the training loss (`replica_loss`), summed over the outputs of a model with
    auxiliary heads with their `loss_weights` (None: a single output)."""
    if loss_weights is None:
        return replica_loss(loss, labels, outputs, num_replicas, all_reduce_sum)
    return tf.add_n([weight * replica_loss(loss, labels, outputs[name], num_replicas, all_reduce_sum)
                     for name, weight in loss_weights.items()])


def train_distributed(model, strategy, loss, loss_weights, make_stream, batch_size, state, epochs,
                      steps_per_epoch, callbacks, signals, validate):
    """Trains `model` under `strategy` from `state` to the end of `epochs`, like `model.fit` with `callbacks`.

    Args:
        model: the compiled model (built and compiled in `strategy.scope()`).
        strategy: a `tf.distribute.Strategy` (MirroredStrategy, MultiWorkerMirroredStrategy).
        loss: the recipe's loss (a kerasseg loss).
        loss_weights: {output name: weight} for a model with auxiliary heads, else None.
        make_stream: function returning the training stream of global batches from the run's current position.
        batch_size: global batch size.
        state: the `RunState` to start from; the callbacks advance it.
        epochs: the run's epochs.
        steps_per_epoch: optimizer steps per epoch.
        callbacks: a `keras.callbacks.CallbackList` (its `ResumableTraining` saves, stops and raises).
        signals: the `SignalFlag` of this process; a stop request on any worker stops all at the same step.
        validate: function() -> {"val_mean_iou": ...} evaluated at each epoch end.

    Returns:
        The history: {"loss": [...], "val_mean_iou": [...], ...} per epoch trained here.
    """
    optimizer = model.optimizer
    replicas = strategy.num_replicas_in_sync
    iterator = iter(distribute_batches(strategy, make_stream, batch_size))

    def all_reduce_sum(value):
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)

    @tf.function
    def train_step(iterator, stop_requested):
        def step(images, labels):
            with tf.GradientTape() as tape:
                outputs = model(images, training=True)
                share = output_loss(loss, loss_weights, labels, outputs, replicas, all_reduce_sum)
                scaled = optimizer.scale_loss(share)  # loss scaling under mixed_float16, else the identity
            gradients = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))  # sums the replicas' gradients
            return share, tf.identity(stop_requested)

        shares, stops = strategy.run(step, args=next(iterator))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, stops, axis=None))

    history = {}
    callbacks.on_train_begin()
    while state.epoch < epochs:
        epoch = state.epoch
        callbacks.on_epoch_begin(epoch)
        losses = []
        while state.step_in_epoch < steps_per_epoch:
            step_loss, stops = train_step(iterator, tf.constant(float(signals.received is not None)))
            losses.append(float(step_loss))
            if float(stops) > 0:
                signals.stop_requested_elsewhere()  # a no-op on the worker that received it
            callbacks.on_train_batch_end(state.step_in_epoch, {"loss": losses[-1]})
        logs = {"loss": float(np.mean(losses)) if losses else math.nan, **validate()}
        callbacks.on_epoch_end(epoch, logs)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
    callbacks.on_train_end()
    return history
