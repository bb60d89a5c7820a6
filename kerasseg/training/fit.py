"""The training recipe: datasets -> model -> Adam + polynomial decay -> `model.fit` -> best `.keras`."""
import dataclasses
import json
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from kerasseg import data as kdata
from kerasseg import viz
from kerasseg.losses import SegmentationCrossEntropy
from kerasseg.metrics import MeanIoU
from kerasseg.models.auxiliary import (MAIN_OUTPUT, auxiliary_losses, has_auxiliary_outputs,
                                       inference_model, repeat_labels)
from kerasseg.registry import build_model, get_model_spec
from kerasseg.training.config import load_config, save_config, validate_config
from kerasseg.training.inputs import build_datasets
from kerasseg.training.performance import configure
from kerasseg.utils import transfer_weights


@dataclasses.dataclass
class FitResult:
    """What `fit` produced.

    Attributes:
        model: the best model (highest val mIoU), reloaded from `best_model_path`.
        history: `keras.callbacks.History.history` of the run.
        best_model_path: path of the best `.keras` checkpoint.
        val_mean_iou: mean IoU of the best model on the validation split.
        per_class_iou: per-class IoU of the best model (NaN for classes absent from val).
        class_names: the class names.
        output_dir: the run folder (checkpoints, config.yaml, history.csv, logs/, overlays.png).
        seconds: wall-clock training time.
    """

    model: keras.Model
    history: dict
    best_model_path: str
    val_mean_iou: float
    per_class_iou: np.ndarray
    class_names: list
    output_dir: str
    seconds: float


def get_strategy(distribution="auto"):
    """Returns the `tf.distribute` strategy for `distribution`.

    Args:
        distribution: "auto" (MirroredStrategy over all GPUs when there are several, else the default
            strategy), "default" (one device) or "mirrored" (synchronous data parallelism on local GPUs).

    Returns:
        A `tf.distribute.Strategy`.
    """
    if distribution == "mirrored" or (distribution == "auto" and len(tf.config.list_logical_devices("GPU")) > 1):
        return tf.distribute.MirroredStrategy()
    if distribution in ("auto", "default"):
        return tf.distribute.get_strategy()
    raise ValueError(f"distribution must be 'auto', 'default' or 'mirrored', got {distribution!r}.")


def poly_schedule(learning_rate, total_steps, power=0.9):
    """The "poly" learning-rate policy: lr * (1 - step / total_steps) ** power, reaching 0 at the end."""
    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=learning_rate, decay_steps=max(int(total_steps), 1), end_learning_rate=0.0,
        power=power,
    )


def step_schedule(learning_rate, total_steps, every_steps, factor=0.1):
    """Step decay: the rate is multiplied by `factor` every `every_steps` steps (ENet's Torch and PyTorch code:
    x0.1 every 100 epochs)."""
    boundaries = list(range(int(every_steps), int(total_steps), int(every_steps)))
    values = [learning_rate * factor**i for i in range(len(boundaries) + 1)]
    if not boundaries:
        return learning_rate
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


@keras.saving.register_keras_serializable(package="kerasseg")
class AdamL2(keras.optimizers.Adam):
    """Adam with L2 weight decay added to the gradient (g + l2 * w) of every variable.

    This is the coupled decay of Torch's `optim.adam` loop in the ENet authors' code (`dE_dw:add(weightDecay, w)`)
    and of PyTorch's `Adam(weight_decay=...)`; Keras' `weight_decay` is the decoupled (AdamW) kind instead.

    Args:
        l2: the L2 coefficient.
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(self, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = gradient + keras.ops.cast(self.l2, variable.dtype) * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


def make_optimizer(learning_rate, total_steps, weight_decay=0.0, poly_power=0.9, weight_decay_mode="decoupled",
                   lr_schedule="poly", lr_step_steps=None, lr_step_factor=0.1):
    """Adam with a learning-rate schedule and weight decay.

    Args:
        learning_rate: the initial rate.
        total_steps: optimizer steps of the whole run (the poly schedule reaches 0 there).
        weight_decay: decay coefficient; 0 for none.
        poly_power: exponent of the poly schedule.
        weight_decay_mode: "decoupled" (AdamW-style, skipping BN, PReLU and bias parameters) or "l2" (added to the
            gradient of every variable, as the ENet references).
        lr_schedule: "poly" or "step".
        lr_step_steps: with "step", decay every this many steps.
        lr_step_factor: with "step", the multiplier at each decay.

    Returns:
        A `keras.optimizers.Adam`.
    """
    if lr_schedule == "step":
        schedule = step_schedule(learning_rate, total_steps, lr_step_steps, lr_step_factor)
    else:
        schedule = poly_schedule(learning_rate, total_steps, poly_power)
    if weight_decay_mode == "l2":
        return AdamL2(l2=weight_decay, learning_rate=schedule)
    optimizer = keras.optimizers.Adam(learning_rate=schedule, weight_decay=weight_decay or None)
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "alpha", "bias"])
    return optimizer


class EpochBackup(keras.callbacks.Callback):
    """Writes a resumable state at the end of every epoch, atomically (temporary file + rename).

    `<backup_dir>/latest.weights.h5` holds the model's and the optimizer's variables (`model.save_weights`), and
    `training_metadata.json` the number of completed epochs, the best validation score so far and the wall-clock
    seconds of training so far (over all sessions). Each epoch's seconds are also added to the logs as
    `epoch_seconds` (so `CSVLogger`, placed after this callback, records them).

    Args:
        backup_dir: folder of the state.
        monitor: the logged value whose best is kept (higher is better).
    """

    def __init__(self, backup_dir, monitor):
        super().__init__()
        self.backup_dir = pathlib.Path(backup_dir)
        self.monitor = monitor
        self.best = None
        self.seconds = 0.0
        self._epoch_start = None

    @staticmethod
    def load_state(backup_dir):
        """The saved metadata dict, or None when there is no complete state."""
        backup_dir = pathlib.Path(backup_dir)
        meta = backup_dir / "training_metadata.json"
        if not (meta.is_file() and (backup_dir / "latest.weights.h5").is_file()):
            return None
        return json.loads(meta.read_text())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._epoch_start is not None:
            logs["epoch_seconds"] = time.time() - self._epoch_start
            self.seconds += logs["epoch_seconds"]
        value = (logs or {}).get(self.monitor)
        if value is not None and (self.best is None or value > self.best):
            self.best = float(value)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights = self.backup_dir / "latest.weights.h5"
        temporary = self.backup_dir / "latest.tmp.weights.h5"
        self.model.save_weights(str(temporary), overwrite=True)
        os.replace(temporary, weights)
        meta = self.backup_dir / "training_metadata.json"
        meta_tmp = self.backup_dir / "training_metadata.json.tmp"
        meta_tmp.write_text(json.dumps({"epoch": epoch + 1, "best": self.best, "seconds": self.seconds}))
        os.replace(meta_tmp, meta)


class InferenceModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves the model without its auxiliary heads (`inference_model`).

    The `.keras` file then holds what `kerasseg evaluate` and `kerasseg export` expect: one output, the logits.
    Single-output models are saved as they are.
    """

    def set_model(self, model):
        super().set_model(inference_model(model))


def _steps(dataset, batch_size, what):
    cardinality = int(dataset.cardinality())
    if cardinality < 0:
        raise ValueError(f"The {what} dataset has unknown length; set 'train.steps_per_epoch' in the recipe.")
    steps = cardinality // batch_size
    if steps < 1:
        raise ValueError(f"The {what} dataset has {cardinality} samples, fewer than one batch of {batch_size}.")
    return steps


def evaluate_model(model, dataset, num_classes, ignore_class=kdata.IGNORE_CLASS):
    """Runs a model over a batched dataset and returns the filled `MeanIoU` metric."""
    metric = MeanIoU(num_classes, ignore_class=ignore_class)
    predict = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    for images, labels in dataset:
        metric.update_state(labels, predict(images))
    return metric


def format_iou_table(class_names, per_class_iou, mean_iou):
    """Plain-text per-class IoU table."""
    width = max(len("mean"), *(len(n) for n in class_names))
    lines = [f"{'class':<{width}}  IoU", f"{'-' * width}  ------"]
    for name, iou in zip(class_names, per_class_iou):
        lines.append(f"{name:<{width}}  {'   n/a' if np.isnan(iou) else f'{iou:6.4f}'}")
    lines.append(f"{'mean':<{width}}  {mean_iou:6.4f}")
    return "\n".join(lines)


def fit(config, base_dir=".", verbose=2):
    """Trains a model from a recipe.

    Writes, under `config["output_dir"]`: `best.keras` (highest val mIoU), `config.yaml` (the full recipe, read
    by `kerasseg export`), `history.csv`, TensorBoard logs in `logs/`, and `overlays.png` (image, ground truth
    and prediction of a few validation samples).

    Args:
        config: a recipe dict, or the path of a YAML recipe.
        base_dir: folder that relative dataset paths in the recipe are resolved against.
        verbose: `model.fit` verbosity (2 = one line per epoch).

    Returns:
        A `FitResult`.
    """
    config = load_config(config) if isinstance(config, (str, pathlib.Path)) else validate_config(config)
    data_config, train_config = config["data"], config["train"]
    output_dir = pathlib.Path(config["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    configure()  # thread pools; a no-op when TensorFlow already runs
    keras.utils.set_random_seed(train_config["seed"])

    splits = build_datasets(config, base_dir=base_dir)
    config["model"]["num_classes"] = splits.num_classes
    config["data"]["class_names"] = list(splits.class_names)
    size_divisor = get_model_spec(config["model"]["name"]).size_divisor
    for dim, size in zip(("height", "width"), data_config["crop_size"]):
        if size % size_divisor:
            raise ValueError(f"data.crop_size {dim} {size} is not a multiple of {size_divisor}, which "
                             f"{config['model']['name']} needs.")

    batch_size = data_config["batch_size"]
    train_ds = kdata.train_pipeline(
        splits.train, batch_size=batch_size, crop_size=data_config["crop_size"],
        scale_range=data_config["scale_range"], flip=data_config["flip"], seed=train_config["seed"],
        rotation_degrees=data_config["rotation_degrees"], photometric=data_config["photometric"],
        image_pad_value=data_config["image_pad_value"],
    )
    val_batch_size = data_config["val_batch_size"] or batch_size
    val_ds = kdata.eval_pipeline(splits.val, batch_size=val_batch_size, pad_to_multiple=size_divisor)

    # train_pipeline repeats forever (new augmentations each pass): an epoch is steps_per_epoch batches.
    steps_per_epoch = train_config["steps_per_epoch"] or _steps(splits.train, batch_size, "training")
    total_steps = steps_per_epoch * train_config["epochs"]

    class_weights = None
    if train_config["class_weighting"] != "none":
        stats = kdata.pixel_statistics(splits.train, splits.num_classes)  # unbatched: sizes may vary
        class_weights = stats.weights(train_config["class_weighting"])
        formula = {"enet": "ENet class weights 1/ln(1.02 + p)",
                   "median_frequency": "median-frequency class weights median(f)/f"}[train_config["class_weighting"]]
        print(f"{formula}:", ", ".join(f"{n}={w:.2f}" for n, w in zip(splits.class_names, class_weights)))

    if train_config["mixed_precision"]:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = get_strategy(train_config["distribution"])
    with strategy.scope():
        model = build_model(config["model"]["name"], splits.num_classes, input_shape=(None, None, 3),
                            **config["model"]["options"])
        if config["model"]["initial_weights"]:
            initial = pathlib.Path(base_dir) / config["model"]["initial_weights"]
            if not initial.is_file():
                raise FileNotFoundError(f"model.initial_weights: {initial} not found.")
            copied = transfer_weights(model, initial)
            print(f"Initialised {len(copied)} layers of {model.name} from {initial}.")
        loss = SegmentationCrossEntropy(splits.num_classes, class_weights=class_weights)
        loss_weights, metrics, monitor = None, [MeanIoU(splits.num_classes)], "val_mean_iou"
        if has_auxiliary_outputs(model):
            # Deep supervision: one loss per output on the same labels; mIoU and checkpoints on the main logits.
            loss, loss_weights = auxiliary_losses(model, loss, train_config["aux_loss_weight"])
            metrics, monitor = {MAIN_OUTPUT: metrics}, f"val_{MAIN_OUTPUT}_mean_iou"
        model.compile(
            optimizer=make_optimizer(
                train_config["learning_rate"], total_steps, train_config["weight_decay"],
                train_config["poly_power"], weight_decay_mode=train_config["weight_decay_mode"],
                lr_schedule=train_config["lr_schedule"],
                lr_step_steps=(train_config["lr_step_epochs"] or 0) * steps_per_epoch,
                lr_step_factor=train_config["lr_step_factor"]),
            loss=loss,
            loss_weights=loss_weights,
            metrics=metrics,
            jit_compile=bool(train_config["jit_compile"]),
        )
    fit_train_ds, fit_val_ds = train_ds, val_ds
    if has_auxiliary_outputs(model):
        fit_train_ds, fit_val_ds = train_ds.map(repeat_labels(model)), val_ds.map(repeat_labels(model))
    save_config(config, output_dir / "config.yaml")

    best_path = output_dir / "best.keras"
    backup_dir = output_dir / "backup"
    state = EpochBackup.load_state(backup_dir)
    initial_epoch, best_so_far = 0, None
    if state is not None:
        # Resume: model + optimizer variables (Adam moments, step count, hence the LR position) and the best score.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(str(backup_dir / "latest.weights.h5"))
        initial_epoch, best_so_far = int(state["epoch"]), state.get("best")
        print(f"Resuming {output_dir} after epoch {initial_epoch} (optimizer step "
              f"{int(model.optimizer.iterations.numpy())}, best {monitor} so far {best_so_far}).")
        # A fresh augmentation stream for the remaining epochs (not a replay of the first ones).
        train_ds = kdata.train_pipeline(
            splits.train, batch_size=batch_size, crop_size=data_config["crop_size"],
            scale_range=data_config["scale_range"], flip=data_config["flip"],
            seed=train_config["seed"] + 1000 * initial_epoch, rotation_degrees=data_config["rotation_degrees"],
            photometric=data_config["photometric"], image_pad_value=data_config["image_pad_value"],
        )
        fit_train_ds = train_ds.map(repeat_labels(model)) if has_auxiliary_outputs(model) else train_ds
    backup = EpochBackup(backup_dir, monitor)
    backup.best = best_so_far
    backup.seconds = float((state or {}).get("seconds", 0.0))
    callbacks = [
        InferenceModelCheckpoint(str(best_path), monitor=monitor, mode="max", save_best_only=True,
                                 initial_value_threshold=best_so_far),
        backup,
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=state is not None),
        keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs"), write_graph=False),
    ]
    print(f"Training {model.name} ({model.count_params():,} parameters) for {train_config['epochs']} epochs of "
          f"{steps_per_epoch} steps, batch {batch_size}, crop {data_config['crop_size']}.")
    start = time.time()
    history = model.fit(fit_train_ds, validation_data=fit_val_ds, epochs=train_config["epochs"],
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
                        shuffle=False, initial_epoch=initial_epoch)
    seconds = time.time() - start

    best = keras.saving.load_model(str(best_path))
    metric = evaluate_model(best, val_ds, splits.num_classes)
    mean_iou, per_class = float(metric.result()), metric.per_class_iou()
    print(f"Best model (val mIoU {mean_iou:.4f}) saved to {best_path}  [{seconds:.0f} s of training]")
    print(format_iou_table(splits.class_names, per_class, mean_iou))

    if train_config["overlay_samples"]:
        images, labels = next(iter(val_ds.unbatch().batch(train_config["overlay_samples"])))
        predictions = np.argmax(best.predict(images, verbose=0), -1)
        overlay_path = output_dir / "overlays.png"
        viz.save_prediction_grid(images.numpy(), labels.numpy(), predictions, splits.palette, overlay_path,
                                 class_names=splits.class_names)
        print(f"Overlays of {len(images)} validation images written to {overlay_path}")
    viz.plot_history(output_dir / "history.csv", output_dir / "history.png")
    if splits.skipped is not None:
        print(splits.skipped.report())
    return FitResult(model=best, history=history.history, best_model_path=str(best_path), val_mean_iou=mean_iou,
                     per_class_iou=per_class, class_names=splits.class_names, output_dir=str(output_dir),
                     seconds=seconds)
