"""The training recipe: datasets -> model -> optimizer + schedule -> `model.fit` (resumable) -> best `.keras`."""
import dataclasses
import itertools
import pathlib
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasseg import data as kdata
from kerasseg import viz
from kerasseg.errors import check_name
from kerasseg.losses import make_loss
from kerasseg.metrics import MeanIoU
from kerasseg.models.auxiliary import (MAIN_OUTPUT, auxiliary_losses, has_auxiliary_outputs,
                                       inference_model, repeat_labels)
from kerasseg.registry import build_model, get_model_spec
from kerasseg.training import resume
from kerasseg.training.distributed import cluster_from_tf_config, train_distributed
from kerasseg.training.config import (DISTRIBUTIONS, OPTIMIZERS, WEIGHT_DECAY_MODES, ConfigError, load_config,
                                      save_config, validate_config)
from kerasseg.training.inputs import build_datasets
from kerasseg.training.optimizers import Adam
from kerasseg.training.performance import configure
from kerasseg.training.schedules import WarmupSchedule
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
            strategy), "default" (one device), "mirrored" (synchronous data parallelism on the local GPUs, or
            on the logical CPU devices when there is no GPU) or "multi_worker" (MultiWorkerMirroredStrategy
            over the cluster in TF_CONFIG; `fit` trains it with its own loop, see `kerasseg.training.distributed`).

    Returns:
        A `tf.distribute.Strategy`.
    """
    check_name("distribution", distribution, DISTRIBUTIONS)
    if distribution == "multi_worker":  # first: it configures the collective ops as TensorFlow starts
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if distribution == "mirrored" or (distribution == "auto" and len(gpus) > 1):
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def poly_schedule(learning_rate, total_steps, power=0.9):
    """The "poly" learning-rate policy: lr * (1 - step / total_steps) ** power, reaching 0 at the end."""
    return WarmupSchedule(learning_rate, total_steps, "poly", power=power)


def _l2_optimizer(base):
    """`base` (a Keras optimizer class) with L2 regularisation: wd * w added to the gradient of every variable."""

    class L2Regularized(base):
        def __init__(self, l2=0.0, **kwargs):
            super().__init__(**kwargs)
            self.l2 = float(l2)

        def apply(self, grads, trainable_variables=None):
            variables = trainable_variables if trainable_variables is not None else self._trainable_variables
            # Under tf.distribute the optimizer sums the replicas' gradients: each adds its share of wd * w.
            l2 = self.l2 / tf.distribute.get_strategy().num_replicas_in_sync
            grads = [g if g is None else g + ops.cast(l2, g.dtype) * ops.cast(v, g.dtype)
                     for g, v in zip(grads, variables)]
            return super().apply(grads, trainable_variables)

        def get_config(self):
            return {**super().get_config(), "l2": self.l2}

    L2Regularized.__name__ = L2Regularized.__qualname__ = f"L2{base.__name__}"
    return keras.saving.register_keras_serializable(package="kerasseg")(L2Regularized)


L2SGD = _l2_optimizer(keras.optimizers.SGD)
NO_WEIGHT_DECAY = ["gamma", "beta", "alpha", "bias"]  # BN scale/offset, PReLU slopes, biases


def _continue(iterator, count=None):
    """A dataset of the next `count` elements of a tf.data `iterator` (None: all the rest), taken from it only as
    they are read, so a later dataset of the same iterator goes on where this one stopped."""
    def elements():
        for _ in itertools.repeat(None) if count is None else range(count):
            yield next(iterator)

    return tf.data.Dataset.from_generator(elements, output_signature=iterator.element_spec)


def make_optimizer(learning_rate, total_steps, weight_decay=0.0, poly_power=0.9, optimizer="adam", momentum=0.9,
                   weight_decay_mode="decoupled", lr_schedule="poly", warmup_steps=0, step_size=None,
                   step_factor=0.1, fused=True):
    """Builds the training optimizer; the one place that does (recipes, notebooks and benchmarks call it).

    Args:
        learning_rate: peak learning rate.
        total_steps: optimizer steps of the run (the schedule's length).
        weight_decay: weight decay factor (0: none).
        poly_power: exponent of the poly schedule.
        optimizer: "adam" (Kingma & Ba 2015; AdamW of Loshchilov & Hutter 2019 with decoupled decay) or "sgd"
            (with momentum, as the DeepLab / RefineNet / SFNet papers).
        momentum: SGD momentum.
        weight_decay_mode: "decoupled" (w -= lr * wd * w, skipping BN, PReLU and bias parameters) or "l2"
            (wd * w added to the gradient of every variable, as the Torch / PyTorch references do).
        lr_schedule: "poly", "step", "cosine" or "constant" (see `WarmupSchedule`).
        warmup_steps: linear warm-up steps.
        step_size: steps between decays for "step".
        step_factor: decay factor for "step".
        fused: Adam with one fused kernel per variable (`kerasseg.training.optimizers.Adam`, the same updates and
            variables as Keras'); False takes Keras' per-variable update.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    check_name("optimizer", optimizer, OPTIMIZERS)
    check_name("weight decay mode", weight_decay_mode, WEIGHT_DECAY_MODES)
    schedule = WarmupSchedule(learning_rate, total_steps, lr_schedule, warmup_steps=warmup_steps, power=poly_power,
                              step_size=step_size, step_factor=step_factor)
    decoupled = weight_decay if weight_decay and weight_decay_mode == "decoupled" else None
    options = {"learning_rate": schedule, "weight_decay": decoupled}
    if optimizer == "sgd":
        options["momentum"] = momentum
    l2 = weight_decay if weight_decay and weight_decay_mode == "l2" else 0.0
    if optimizer == "sgd":
        built = L2SGD(l2=l2, **options) if l2 else keras.optimizers.SGD(**options)
    else:  # one fused kernel per variable; Keras' Adam variables and updates (kerasseg.training.optimizers)
        built = Adam(coupled_weight_decay=l2, fused=fused, **options)
    if decoupled:
        built.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return built


def recipe_optimizer(train_config, steps_per_epoch):
    """`make_optimizer` with the settings of a recipe's `train` section.

    Args:
        train_config: the validated `train` section.
        steps_per_epoch: optimizer steps per epoch.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    step_epochs = train_config["lr_step_epochs"]
    return make_optimizer(
        train_config["learning_rate"], steps_per_epoch * train_config["epochs"], train_config["weight_decay"],
        train_config["poly_power"], optimizer=train_config["optimizer"], momentum=train_config["momentum"],
        weight_decay_mode=train_config["weight_decay_mode"], lr_schedule=train_config["lr_schedule"],
        warmup_steps=train_config["warmup_steps"], step_size=step_epochs and step_epochs * steps_per_epoch,
        step_factor=train_config["lr_step_factor"], fused=train_config["fused_optimizer"])


def _steps(dataset, batch_size, what):
    cardinality = int(dataset.cardinality())
    if cardinality < 0:
        raise ValueError(f"The {what} dataset has unknown length; set 'train.steps_per_epoch' in the recipe.")
    steps = cardinality // batch_size
    if steps < 1:
        raise ValueError(f"The {what} dataset has {cardinality} samples, fewer than one batch of {batch_size}.")
    return steps


def evaluate_model(model, dataset, num_classes, ignore_class=kdata.IGNORE_CLASS, keep=0):
    """Runs a model over a batched dataset and returns the filled `MeanIoU` metric.

    Args:
        model: a segmentation model (logits last).
        dataset: batched (images, labels).
        num_classes: number of classes.
        ignore_class: label value left out of the metric.
        keep: also return the first `keep` samples' images, labels and predicted classes (from the same pass, so
            a caller that draws them traces the model once).

    Returns:
        The metric; with `keep`, `(metric, (images, labels, predicted classes))` as numpy arrays of up to `keep`
        samples.
    """
    metric = MeanIoU(num_classes, ignore_class=ignore_class)
    predict = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    kept = ([], [], [])
    for images, labels in dataset:
        logits = predict(images)
        metric.update_state(labels, logits)
        missing = keep - sum(len(batch) for batch in kept[0])
        if missing > 0:
            for part, values in zip(kept, (images, labels, tf.argmax(logits, -1))):
                part.append(values[:missing].numpy())
    if not keep:
        return metric
    return metric, tuple(np.concatenate(part) for part in kept)


def format_iou_table(class_names, per_class_iou, mean_iou):
    """Plain-text per-class IoU table."""
    width = max(len("mean"), *(len(n) for n in class_names))
    lines = [f"{'class':<{width}}  IoU", f"{'-' * width}  ------"]
    for name, iou in zip(class_names, per_class_iou):
        lines.append(f"{name:<{width}}  {'   n/a' if np.isnan(iou) else f'{iou:6.4f}'}")
    lines.append(f"{'mean':<{width}}  {mean_iou:6.4f}")
    return "\n".join(lines)



def mixed_precision_policy(setting):
    """The Keras dtype policy name for `train.mixed_precision` (None: float32).

    Args:
        setting: False, True (mixed_float16 on GPU, mixed_bfloat16 on CPUs, where bfloat16 runs on AMX / AVX512
            BF16), "mixed_float16" or "mixed_bfloat16".

    Returns:
        None or the policy name.
    """
    if setting is False or setting is None:
        return None
    if setting is True:
        return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    return setting


def _float32_outputs(model):
    """Runs the layers that produce the model's outputs in float32, so logits (and the softmax of the loss)
    are float32 under a mixed-precision policy."""
    for tensor in tf.nest.flatten(model.outputs):
        tensor._keras_history.operation.dtype_policy = keras.dtype_policies.DTypePolicy("float32")


def _synchronize_batch_norm(model):
    """Switches every BatchNormalization layer to cross-replica statistics (`synchronized=True`).

    Returns:
        The number of layers switched.
    """
    layers = [layer for layer in model._flatten_layers(include_self=False)
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def _prepare_output_dir(output_dir, restart):
    """Removes the previous run's state on `restart`; returns the backup metadata (None: fresh run)."""
    backup_dir = output_dir / resume.BACKUP_DIR
    if restart:
        for name in (resume.BACKUP_DIR, "logs"):
            shutil.rmtree(output_dir / name, ignore_errors=True)
        for name in ("best.keras", "best.json", "history.csv"):
            (output_dir / name).unlink(missing_ok=True)
        return None
    return resume.read_metadata(backup_dir)


def _check_same_model(config, output_dir):
    saved_path = output_dir / "config.yaml"
    if not saved_path.is_file():
        return
    saved = load_config(saved_path)
    for key in ("name", "options"):
        if saved["model"][key] != config["model"][key]:
            raise ConfigError(
                f"{output_dir} holds an unfinished run of a different model (model.{key} {saved['model'][key]!r}, "
                f"now {config['model'][key]!r}); pass --restart to start over there, or set another output_dir.")


def fit(config, base_dir=".", verbose=2, restart=False, resume_command=None):
    """Trains a model from a recipe, resuming the run in `output_dir` if it is unfinished.

    Writes, under `config["output_dir"]`: `best.keras` (highest val mIoU) and `best.json`, `backup/` (the
    resumable state, see `kerasseg.training.resume`), `config.yaml` (the full recipe, read by `kerasseg export`),
    `history.csv`, TensorBoard logs in `logs/`, and `overlays.png` (image, ground truth and prediction of a few
    validation samples). A run that holds a backup continues from it: weights, optimizer state and schedule
    position, epoch and step inside the epoch, the best val mIoU so far, and the augmentation stream (replayed
    to the same position); the CSV and TensorBoard logs are appended. A finished run is not retrained.

    SIGINT / SIGTERM stop after the current step with the state saved (`TrainingInterrupted`); a NaN loss
    stops the run naming the step and the last good backup (`TrainingDiverged`).

    Args:
        config: a recipe dict, or the path of a YAML recipe.
        base_dir: folder that relative dataset paths in the recipe are resolved against.
        verbose: `model.fit` verbosity (2 = one line per epoch).
        restart: discard the state of a previous run in `output_dir` and start over.
        resume_command: the command that resumes the run, printed when it is interrupted.

    Returns:
        A `FitResult`.
    """
    source = str(config) if isinstance(config, (str, pathlib.Path)) else None
    config = load_config(config) if source else validate_config(config)
    resume_command = resume_command or (f"kerasseg train --config {source}" if source
                                        else "fit() again with the same recipe and output_dir")
    data_config, train_config = config["data"], config["train"]
    output_dir = pathlib.Path(config["output_dir"])
    distribution = train_config["distribution"]
    # On several machines worker 0 (the chief) writes the run folder; the others keep their copies elsewhere.
    worker_index = cluster_from_tf_config()[1] if distribution == "multi_worker" else 0
    chief = worker_index == 0
    output_dir.mkdir(parents=True, exist_ok=True)
    metadata = _prepare_output_dir(output_dir, restart and chief)
    if restart and not chief:
        metadata = None
    if metadata is not None:
        _check_same_model(config, output_dir)
    threads = configure(train_config["intra_op_threads"], train_config["inter_op_threads"])  # before TF runs
    print(f"CPU: {threads['intra_op_threads']} intra-op / {threads['inter_op_threads']} inter-op threads, oneDNN "
          f"kernels {'on' if threads['onednn'] else 'off (TF_ENABLE_ONEDNN_OPTS)'}.")
    strategy = get_strategy(distribution)  # MultiWorkerMirroredStrategy: before any other TensorFlow op
    distributed = distribution == "multi_worker" or strategy.num_replicas_in_sync > 1
    run_dir = output_dir if chief else pathlib.Path(tempfile.mkdtemp(prefix=f"kerasseg-worker{worker_index}-"))
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
    skipped_logs = [splits.skipped]

    def training_data(skip_batches, repeat_for_outputs=True):
        """The augmented training stream from its start, `skip_batches` batches in. The readers are built anew:
        a tf.data dataset that was iterated before (e.g. by the class statistics) draws a different shuffle and
        augmentation on its next pass, and the stream must be the same in every run and every resumed phase."""
        fresh = build_datasets(config, base_dir=base_dir)
        skipped_logs.append(fresh.skipped)
        stream = kdata.train_pipeline(
            fresh.train, batch_size=batch_size, crop_size=data_config["crop_size"],
            scale_range=data_config["scale_range"], flip=data_config["flip"], seed=train_config["seed"],
            rotation_degrees=data_config["rotation_degrees"], photometric=data_config["photometric"],
            image_pad_value=data_config["image_pad_value"],
        )
        if repeat_for_outputs and has_auxiliary_outputs(model):
            stream = stream.map(repeat_labels(model))
        return stream.skip(skip_batches)

    val_batch_size = data_config["val_batch_size"] or batch_size
    val_ds = kdata.eval_pipeline(splits.val, batch_size=val_batch_size, pad_to_multiple=size_divisor)

    # train_pipeline repeats forever (new augmentations each pass): an epoch is steps_per_epoch batches.
    steps_per_epoch = train_config["steps_per_epoch"] or _steps(splits.train, batch_size, "training")
    epochs = train_config["epochs"]
    total_steps = steps_per_epoch * epochs
    class_weights = _class_weights(train_config["class_weighting"], splits)

    policy = mixed_precision_policy(train_config["mixed_precision"])
    previous_policy = keras.mixed_precision.global_policy()
    if batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"data.batch_size {batch_size} is not divisible by the {strategy.num_replicas_in_sync} "
                          "replicas of the distribution strategy.")

    def build():
        built = build_model(config["model"]["name"], splits.num_classes, input_shape=(None, None, 3),
                            **config["model"]["options"])
        built.set_classes(list(splits.class_names), splits.palette)  # travel in best.keras
        return built

    with strategy.scope():
        try:
            if policy:
                keras.mixed_precision.set_global_policy(policy)
            model = build()
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        if policy:
            _float32_outputs(model)
        if config["model"]["initial_weights"] and metadata is None:
            initial = pathlib.Path(config["model"]["initial_weights"])
            if not initial.is_file():
                raise ConfigError(f"model.initial_weights: {initial} not found.")
            copied = transfer_weights(model, initial)
            print(f"Initialised {len(copied)} layers of {model.name} from {initial}.")
        if train_config["sync_batch_norm"]:
            _synchronize_batch_norm(model)
        loss = make_loss(train_config["loss"], splits.num_classes, class_weights=class_weights,
                         focal_gamma=train_config["focal_gamma"], ohem_threshold=train_config["ohem_threshold"],
                         ohem_min_kept=train_config["ohem_min_kept"])
        output_losses, loss_weights, metrics, monitor = loss, None, [MeanIoU(splits.num_classes)], "val_mean_iou"
        if has_auxiliary_outputs(model):
            # Deep supervision: one loss per output on the same labels; mIoU and checkpoints on the main logits.
            output_losses, loss_weights = auxiliary_losses(model, loss, train_config["aux_loss_weight"])
            metrics, monitor = {MAIN_OUTPUT: metrics}, f"val_{MAIN_OUTPUT}_mean_iou"
        model.compile(optimizer=recipe_optimizer(train_config, steps_per_epoch), loss=output_losses,
                      loss_weights=loss_weights, metrics=metrics, jit_compile=bool(train_config["jit_compile"]))
        model.optimizer.build(model.trainable_variables)

    state = _restore(model, output_dir, metadata, steps_per_epoch)
    if chief:
        save_config(config, output_dir / "config.yaml")

    def save_best(path):
        best_model = model
        if policy:  # a float32 copy: the .keras file reloads as float32, whatever the training precision
            best_model = build()
            best_model.set_weights(model.get_weights())
        inference_model(best_model).save(path)

    fit_val_ds = val_ds.map(repeat_labels(model)) if has_auxiliary_outputs(model) else val_ds
    best_path = run_dir / "best.keras"
    history = {}
    start = time.time()
    if state.epoch >= epochs:
        print(f"{output_dir} holds a finished run ({state.epoch} epochs, best val mIoU {state.best:.4f}); nothing "
              "to train. Pass --restart to train it again.")
    else:
        if state.global_step:
            print(f"Resuming {output_dir}: epoch {state.epoch + 1} of {epochs}, step {state.step_in_epoch} of "
                  f"{steps_per_epoch} (global step {state.global_step} of {total_steps}), best val mIoU so far "
                  f"{state.best:.4f}; replaying {state.global_step - state.stream_start} batches of the augmentation "
                  "stream.")
        with resume.SignalFlag() as signals:  # installed before the announcement: a stop after it is honoured
            print(f"Training {model.name} ({model.count_params():,} parameters) for {epochs} epochs of "
                  f"{steps_per_epoch} steps, batch {batch_size}, crop {data_config['crop_size']}"
                  f"{f', {policy}' if policy else ''}"
                  f"{f', {strategy.num_replicas_in_sync} replicas' if distributed else ''}"
                  f"{f' (worker {worker_index} of a {distribution} cluster)' if distribution == 'multi_worker' else ''}"
                  ".", flush=True)
            tracker = resume.ResumableTraining(
                run_dir, state, epochs, steps_per_epoch, train_config["checkpoint_every_steps"], monitor,
                save_best, signals, resume_command)

            def log_callbacks():  # fresh each phase (CSVLogger opens its file per fit); only the chief writes logs
                return [] if not chief else [
                    keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
                    keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs"), write_graph=False)]

            if distributed:
                deploy = inference_model(model)
                history = train_distributed(
                    model, strategy, loss, loss_weights, lambda: training_data(
                        state.global_step - state.stream_start, repeat_for_outputs=False),
                    batch_size, state, epochs, steps_per_epoch,
                    keras.callbacks.CallbackList([tracker, *log_callbacks()], model=model), signals,
                    lambda: {monitor: float(evaluate_model(deploy, val_ds, splits.num_classes).result())})
            stream = None
            while state.epoch < epochs:
                # The first call finishes a partly trained epoch; the second trains the remaining epochs.
                steps = steps_per_epoch - state.step_in_epoch
                last_epoch = state.epoch + 1 if state.step_in_epoch else epochs
                callbacks = [tracker, *log_callbacks()]
                if state.step_in_epoch or stream is not None:
                    # `fit` iterates a dataset from its start: both phases draw from one iterator of the stream,
                    # so a resume replays it once, not twice (each replay computes every skipped batch).
                    stream = stream or iter(training_data(state.global_step - state.stream_start))
                    train_data = _continue(stream, steps if state.step_in_epoch else None)
                else:
                    train_data = training_data(state.global_step - state.stream_start)
                phase = model.fit(train_data, validation_data=fit_val_ds,
                                  initial_epoch=state.epoch, epochs=last_epoch, steps_per_epoch=steps,
                                  callbacks=callbacks, verbose=verbose, shuffle=False)
                for key, values in phase.history.items():
                    history.setdefault(key, []).extend(values)
    seconds = time.time() - start

    if not best_path.is_file():
        raise resume.TrainingStopped(f"no best model was saved in {output_dir}: '{monitor}' was never finite.")
    best = keras.saving.load_model(str(best_path))
    overlay_samples = train_config["overlay_samples"] if chief else 0
    if overlay_samples:  # drawn from the evaluation's own pass (one trace of the model, not two)
        metric, overlays = evaluate_model(best, val_ds, splits.num_classes, keep=overlay_samples)
    else:
        metric = evaluate_model(best, val_ds, splits.num_classes)
    mean_iou, per_class = float(metric.result()), metric.per_class_iou()
    print(f"Best model (val mIoU {mean_iou:.4f}) saved to {best_path}  [{seconds:.0f} s of training]")
    print(format_iou_table(splits.class_names, per_class, mean_iou))

    if not chief:  # the chief writes the run folder's files
        shutil.rmtree(run_dir, ignore_errors=True)
        return FitResult(model=best, history=history, best_model_path=str(output_dir / "best.keras"),
                         val_mean_iou=mean_iou, per_class_iou=per_class, class_names=splits.class_names,
                         output_dir=str(output_dir), seconds=seconds)
    if overlay_samples:
        overlay_path = output_dir / "overlays.png"
        viz.save_prediction_grid(*overlays, splits.palette, overlay_path, class_names=splits.class_names)
        print(f"Overlays of {len(overlays[0])} validation images written to {overlay_path}")
    viz.plot_history(output_dir / "history.csv", output_dir / "history.png")
    if splits.skipped is not None:
        problems = list(dict.fromkeys(p for log in skipped_logs if log is not None for p in log.problems))
        print(f"Skipped {len(problems)} bad sample(s):" + "".join(f"\n  {p}" for p in problems)
              if problems else "No samples skipped.")
    return FitResult(model=best, history=history, best_model_path=str(best_path), val_mean_iou=mean_iou,
                     per_class_iou=per_class, class_names=splits.class_names, output_dir=str(output_dir),
                     seconds=seconds)


def _class_weights(weighting, splits):
    if weighting == "none":
        return None
    stats = kdata.pixel_statistics(splits.train, splits.num_classes)  # unbatched: sizes may vary
    class_weights = stats.weights(weighting)
    print(f"{weighting} class weights:", ", ".join(f"{n}={w:.2f}" for n, w in zip(splits.class_names, class_weights)))
    return class_weights


def _restore(model, output_dir, metadata, steps_per_epoch):
    """Loads the backup into the compiled model; returns the `RunState` to start from."""
    state = resume.RunState()
    if metadata is not None:
        weights = output_dir / resume.BACKUP_DIR / resume.WEIGHTS_FILE
        model.load_weights(str(weights))
        resume.restore_rng_states(model, weights)
        optimizer_steps = int(model.optimizer.iterations.numpy())
        if "global_step" in metadata:
            # The run's position, stored in the weights file itself (atomic with the weights); the optimizer's
            # step count equals it unless an imported backup's optimizer state could not be loaded.
            state.global_step = int(metadata["global_step"])
            state.epoch, state.step_in_epoch = divmod(state.global_step, steps_per_epoch)
            state.stream_start = int(metadata.get("stream_start", 0))
        else:  # an epoch-level backup ({"epoch", "best"}, as keras BackupAndRestore / the first CamVid run):
            # its augmentation stream is not kerasseg's replayable one, so the stream starts afresh here.
            state.epoch = int(metadata.get("epoch", 0))
            state.global_step = state.stream_start = state.epoch * steps_per_epoch
        if optimizer_steps != state.global_step:
            print(f"Note: {weights} holds {optimizer_steps} optimizer steps at step {state.global_step} of the run "
                  f"(an imported backup whose optimizer state did not load); the learning-rate schedule follows "
                  f"the optimizer's count.")
        if metadata.get("best") is not None:
            state.best = float(metadata["best"])
        state.seconds = float(metadata.get("seconds", 0.0))
    best_json = output_dir / "best.json"
    if best_json.is_file() and (output_dir / "best.keras").is_file():
        import json

        state.best = max(state.best, float(json.loads(best_json.read_text())["val_mean_iou"]))
    return state
