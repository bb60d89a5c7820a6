"""Training on several machines: `train.distribution: multi_worker`, a custom loop on MultiWorkerMirroredStrategy.

`MultiWorkerMirroredStrategy` + `model.fit` does not work in Keras 3.15 (keras-team/keras#20585), so this loop
does what `model.fit` does, with the same pieces as `kerasseg.training.fit`: the recipe's loss, optimizer and
learning-rate schedule (`recipe_optimizer`), the same augmentation stream, the val mIoU metric, the resumable
backup and best checkpoint (`kerasseg.training.resume`), CSV history.

    # on every machine, with the same recipe and an output_dir on storage all of them can read (NFS, GCS):
    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        kerasseg train --config recipe.yaml        # index 1 on host1, ...

Each global batch of `data.batch_size` is cut into one slice per replica (`distribute_datasets_from_function`:
every worker builds the same deterministic pipeline and keeps its part of each batch), so the gradient is the
mean over the same crops as a one-process run with the same batch. Worker 0 (the chief) writes the backup,
`best.keras` and the history; every worker reads the backup when the run is restarted. A stop request (SIGINT /
SIGTERM on any worker) and a NaN loss are agreed on by all workers at the same step, so no worker is left
waiting in a collective.
"""
import csv
import json
import math
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from kerasseg import data as kdata
from kerasseg.models.auxiliary import has_auxiliary_outputs, inference_model
from kerasseg.registry import build_model, get_model_spec
from kerasseg.training import resume
from kerasseg.training.config import ConfigError, save_config


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


def fit_multi_worker(config, base_dir=".", metadata=None, resume_command="kerasseg train", strategy=None):
    """Trains a validated recipe on the cluster of TF_CONFIG (see the module docstring).

    Args:
        config: a validated recipe with `train.distribution: multi_worker`.
        base_dir: folder that relative dataset paths are resolved against.
        metadata: the backup metadata of an unfinished run (None: a fresh run).
        resume_command: the command that resumes the run, for messages.
        strategy: None for `MultiWorkerMirroredStrategy` over TF_CONFIG's cluster; another strategy (e.g. a
            `MirroredStrategy` over local devices) runs the same loop on it, with this process as the chief.

    Returns:
        A `kerasseg.training.FitResult`; `model` is this worker's trained model (inference outputs).
    """
    from kerasseg.training.fit import (FitResult, _class_weights, _restore, _steps, _synchronize_batch_norm,
                                       evaluate_model, mixed_precision_policy, recipe_optimizer)
    from kerasseg.training.inputs import build_datasets
    from kerasseg.losses import make_loss

    if strategy is None:
        workers, index = cluster_from_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()  # before any other TensorFlow op
    else:
        workers, index = ["local"], 0
    chief = index == 0
    data_config, train_config = config["data"], config["train"]
    output_dir = pathlib.Path(config["output_dir"])
    keras.utils.set_random_seed(train_config["seed"])
    splits = build_datasets(config, base_dir=base_dir)
    config["model"]["num_classes"] = splits.num_classes
    config["data"]["class_names"] = list(splits.class_names)
    size_divisor = get_model_spec(config["model"]["name"]).size_divisor
    batch_size = data_config["batch_size"]
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"data.batch_size {batch_size} is not divisible by the {replicas} replicas of the "
                          f"{len(workers)} workers.")
    steps_per_epoch = train_config["steps_per_epoch"] or _steps(splits.train, batch_size, "training")
    epochs = train_config["epochs"]
    class_weights = _class_weights(train_config["class_weighting"], splits)
    if mixed_precision_policy(train_config["mixed_precision"]):
        raise ConfigError("train.mixed_precision is not supported with train.distribution: multi_worker yet; "
                          "use mirrored on one machine, or float32.")

    with strategy.scope():
        model = build_model(config["model"]["name"], splits.num_classes, input_shape=(None, None, 3),
                            **config["model"]["options"])
        model.set_classes(list(splits.class_names), splits.palette)  # travel in best.keras
        if has_auxiliary_outputs(model):
            raise ConfigError("models with auxiliary heads are trained with model.fit; multi_worker supports "
                              "single-output models.")
        if train_config["sync_batch_norm"]:
            _synchronize_batch_norm(model)
        optimizer = recipe_optimizer(train_config, steps_per_epoch)
        model.compile(optimizer=optimizer)  # so save_weights / load_weights hold the optimizer state
        optimizer.build(model.trainable_variables)
    loss_fn = make_loss(train_config["loss"], splits.num_classes, class_weights=class_weights,
                        focal_gamma=train_config["focal_gamma"], ohem_threshold=train_config["ohem_threshold"],
                        ohem_min_kept=train_config["ohem_min_kept"])
    state = _restore(model, output_dir, metadata, steps_per_epoch)
    if chief:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, output_dir / "config.yaml")

    per_replica_batch = batch_size // replicas

    def dataset_fn(context):
        pipeline = kdata.train_pipeline(
            build_datasets(config, base_dir=base_dir).train, batch_size=batch_size, crop_size=data_config["crop_size"],
            scale_range=data_config["scale_range"], flip=data_config["flip"], seed=train_config["seed"],
            rotation_degrees=data_config["rotation_degrees"], photometric=data_config["photometric"],
            image_pad_value=data_config["image_pad_value"])
        pipeline = pipeline.skip(state.global_step - state.stream_start)
        # This worker's slice of every global batch, cut into per-replica batches for its local replicas.
        per_worker = batch_size // context.num_input_pipelines
        start = context.input_pipeline_id * per_worker
        part = pipeline.map(lambda images, labels: (images[start:start + per_worker],
                                                    labels[start:start + per_worker]))
        return part.unbatch().batch(per_replica_batch, drop_remainder=True)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    train_data = strategy.distribute_datasets_from_function(dataset_fn, options)
    val_ds = kdata.eval_pipeline(splits.val, batch_size=data_config["val_batch_size"] or batch_size,
                                 pad_to_multiple=size_divisor)

    @tf.function
    def train_step(iterator, stop_requested):
        def step(images, labels):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                loss = loss_fn.call(labels, logits)
                scaled = loss / replicas
            gradients = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss, tf.identity(stop_requested)

        losses, stops = strategy.run(step, args=next(iterator))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None) / replicas,
                strategy.reduce(tf.distribute.ReduceOp.SUM, stops, axis=None))

    history = {"loss": [], "val_mean_iou": []}
    history_path = output_dir / "history.csv"
    start_time = time.time()
    if state.epoch >= epochs:
        print(f"{output_dir} holds a finished run ({state.epoch} epochs); nothing to train. Pass --restart to "
              "train it again.")
    elif state.global_step:
        print(f"Resuming {output_dir}: epoch {state.epoch + 1} of {epochs}, step {state.step_in_epoch} of "
              f"{steps_per_epoch} (global step {state.global_step}), on worker {index} of {len(workers)}.")
    if chief and state.epoch < epochs:
        print(f"Training {model.name} on {len(workers)} workers ({replicas} replicas) for {epochs} epochs of "
              f"{steps_per_epoch} steps, global batch {batch_size}.", flush=True)
    iterator = iter(train_data)
    with resume.SignalFlag() as signals:
        while state.epoch < epochs:
            epoch_losses = []
            while state.step_in_epoch < steps_per_epoch:
                loss, stops = train_step(iterator, tf.constant(float(signals.received is not None)))
                loss = float(loss)
                state.global_step += 1
                state.step_in_epoch += 1
                if not math.isfinite(loss):
                    raise resume.TrainingDiverged(
                        f"the loss became {loss} at step {state.global_step} (epoch {state.epoch + 1}); training "
                        f"stopped and nothing was saved from it; the last backup is in {output_dir / 'backup'}.")
                epoch_losses.append(loss)
                if float(stops) > 0:
                    if chief:
                        resume.save_backup(model, output_dir / resume.BACKUP_DIR, state, epochs, steps_per_epoch)
                    raise resume.TrainingInterrupted(
                        f"a worker was asked to stop: stopped at step {state.global_step} (epoch {state.epoch + 1}, "
                        f"step {state.step_in_epoch} of {steps_per_epoch}); resumable state saved to "
                        f"{output_dir / resume.BACKUP_DIR}. Resume by starting every worker again with: "
                        f"{resume_command}", exit_code=SIGNAL_EXIT.get(signals.received, 1))
                if (chief and state.global_step % train_config["checkpoint_every_steps"] == 0
                        and state.step_in_epoch < steps_per_epoch):
                    resume.save_backup(model, output_dir / resume.BACKUP_DIR, state, epochs, steps_per_epoch)
            val_miou = float(evaluate_model(model, val_ds, splits.num_classes).result())
            mean_loss = float(np.mean(epoch_losses)) if epoch_losses else float("nan")
            history["loss"].append(mean_loss)
            history["val_mean_iou"].append(val_miou)
            if chief:
                print(f"Epoch {state.epoch + 1}/{epochs} - loss: {mean_loss:.4f} - val_mean_iou: {val_miou:.4f}",
                      flush=True)
                new_file = not history_path.is_file()
                with open(history_path, "a", newline="") as f:
                    writer = csv.writer(f)
                    if new_file:
                        writer.writerow(["epoch", "loss", "val_mean_iou"])
                    writer.writerow([state.epoch, mean_loss, val_miou])
                if val_miou > state.best and resume.weights_are_finite(model):
                    resume.write_atomic(output_dir / "best.keras", lambda p: inference_model(model).save(p))
                    resume.write_json_atomic(output_dir / "best.json", {
                        "val_mean_iou": val_miou, "epoch": state.epoch + 1, "global_step": state.global_step})
            state.best = max(state.best, val_miou)
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
            state.finished = state.epoch >= epochs
            if chief:
                resume.save_backup(model, output_dir / resume.BACKUP_DIR, state, epochs, steps_per_epoch)
    seconds = time.time() - start_time
    metric = evaluate_model(model, val_ds, splits.num_classes)
    return FitResult(model=inference_model(model), history=history, best_model_path=str(output_dir / "best.keras"),
                     val_mean_iou=float(metric.result()), per_class_iou=metric.per_class_iou(),
                     class_names=splits.class_names, output_dir=str(output_dir), seconds=seconds)


SIGNAL_EXIT = {signum: code for signum, (_, code) in resume.SignalFlag.SIGNALS.items()}
