"""Resumable training: atomic backups of the whole training state, the best checkpoint, signals and NaN stops.

A run folder holds

    backup/latest.weights.h5        model + optimizer variables (`model.save_weights`), with the run position
                                    stored in the file's HDF5 attributes, so weights and position are one
                                    atomic file
    backup/training_metadata.json   the same position as JSON: {"epoch": completed epochs, "best": best val
                                    mIoU, "global_step", "step_in_epoch", "steps_per_epoch", "epochs",
                                    "finished"} -- a superset of what the plain epoch-level backup of
                                    `keras.callbacks.BackupAndRestore` / the first kerasseg CamVid run wrote
    best.keras, best.json           the best model (inference outputs only, float32) and its val mIoU

Every file is written to a temporary name and renamed over the old one (`os.replace`), so a kill at any moment
leaves the previous good file, never a 0-byte or half-written one. The optimizer's step counter (restored with
the weights) is the position's source of truth: the learning-rate schedule resumes with it, and the trainer
replays the deterministic augmentation stream up to it.
"""
import dataclasses
import json
import math
import os
import pathlib
import signal
import threading
import time

import keras
import numpy as np

BACKUP_DIR = "backup"
WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"


class TrainingStopped(RuntimeError):
    """Training stopped before the end; the message says why and what was saved.

    Attributes:
        exit_code: the exit status the command line uses (130 SIGINT, 143 SIGTERM, 1 otherwise).
    """

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


class TrainingInterrupted(TrainingStopped):
    """SIGINT / SIGTERM: a resumable state was saved."""


class TrainingDiverged(TrainingStopped):
    """The loss became NaN or infinite."""


def atomic_path(path):
    """A temporary sibling of `path` with the same suffixes (Keras checks `.keras` / `.weights.h5`)."""
    path = pathlib.Path(path)
    suffix = "".join(path.suffixes)
    return path.with_name(f"{path.name[: len(path.name) - len(suffix)]}.partial{suffix}")


def write_atomic(path, write):
    """Calls `write(temporary_path)`, flushes it to disk and renames it over `path`.

    Args:
        path: the final path.
        write: function writing the file at the path it is given.
    """
    path = pathlib.Path(path)
    temporary = atomic_path(path)
    write(str(temporary))
    with open(temporary, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temporary, path)


def write_json_atomic(path, value):
    """Writes `value` as JSON at `path` atomically."""
    write_atomic(path, lambda p: pathlib.Path(p).write_text(json.dumps(value, indent=1)))


@dataclasses.dataclass
class RunState:
    """Where a run stands.

    Attributes:
        global_step: optimizer steps done.
        epoch: completed epochs.
        step_in_epoch: steps done in the current epoch.
        best: best val mIoU so far (-inf before the first validation).
        finished: whether the run trained all its epochs.
        stream_start: the global step at which the augmentation stream started from its first batch (0, or the
            step of an imported epoch-level backup, whose stream is not replayed).
        seconds: wall-clock seconds of training so far, over every session of the run.
    """

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    best: float = -math.inf
    finished: bool = False
    stream_start: int = 0
    seconds: float = 0.0

    def to_json(self, epochs, steps_per_epoch):
        return {"epoch": self.epoch, "best": None if math.isinf(self.best) else self.best,
                "global_step": self.global_step, "step_in_epoch": self.step_in_epoch,
                "steps_per_epoch": steps_per_epoch, "epochs": epochs, "finished": self.finished,
                "stream_start": self.stream_start, "seconds": round(self.seconds, 1)}


def read_metadata(backup_dir):
    """The backup's position: the HDF5 attributes of the weights file, else `training_metadata.json`.

    Args:
        backup_dir: the run's `backup/` folder.

    Returns:
        A dict (see the module docstring), or None when the folder holds no backup.
    """
    backup_dir = pathlib.Path(backup_dir)
    weights = backup_dir / WEIGHTS_FILE
    if not weights.is_file():
        return None
    import h5py

    with h5py.File(weights, "r") as f:
        if "kerasseg_state" in f.attrs:
            return json.loads(f.attrs["kerasseg_state"])
    metadata = backup_dir / METADATA_FILE
    if metadata.is_file():
        return json.loads(metadata.read_text())
    return {}


def save_backup(model, backup_dir, state, epochs, steps_per_epoch):
    """Writes the weights, optimizer state and position atomically (weights file first, then the JSON copy).

    Args:
        model: the compiled model being trained.
        backup_dir: the run's `backup/` folder.
        state: a `RunState`.
        epochs: the run's epochs.
        steps_per_epoch: the run's steps per epoch.
    """
    import h5py

    backup_dir = pathlib.Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    record = state.to_json(epochs, steps_per_epoch)

    def write(path):
        model.save_weights(path, overwrite=True)
        with h5py.File(path, "a") as f:
            f.attrs["kerasseg_state"] = json.dumps(record)
            # Dropout & co. draw from SeedGenerator states, which save_weights leaves out: keep the stream.
            generators = f.create_group(RNG_GROUP)
            for position, variable in enumerate(rng_variables(model)):
                generators.create_dataset(f"{position:05d}", data=np.asarray(variable))

    write_atomic(backup_dir / WEIGHTS_FILE, write)
    write_json_atomic(backup_dir / METADATA_FILE, record)


RNG_GROUP = "kerasseg_rng_states"


def rng_variables(model):
    """The model's random-generator state variables (`keras.random.SeedGenerator`, e.g. of dropout layers)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def restore_rng_states(model, weights_path):
    """Restores the random-generator states `save_backup` stored (a file without them is left as it is).

    Returns:
        The number of states restored.
    """
    import h5py

    variables = rng_variables(model)  # in model order (their auto-generated names differ between processes)
    with h5py.File(weights_path, "r") as f:
        if RNG_GROUP not in f:
            return 0
        stored = [f[RNG_GROUP][name][()] for name in sorted(f[RNG_GROUP])]
    if len(stored) != len(variables):
        raise ValueError(f"{weights_path} holds {len(stored)} random-generator states, the model has "
                         f"{len(variables)}: it is the backup of a different model.")
    for variable, value in zip(variables, stored):
        variable.assign(value)
    return len(stored)


def weights_are_finite(model):
    """Whether every variable of `model` is finite."""
    return all(np.isfinite(np.asarray(v)).all() for v in model.weights
               if np.issubdtype(np.asarray(v).dtype, np.floating))


class SignalFlag:
    """Turns the first SIGINT / SIGTERM into a flag the training loop checks after each step.

    A second SIGINT raises `KeyboardInterrupt` at once. Handlers are installed only in the main thread and
    restored on exit.
    """

    SIGNALS = {signal.SIGINT: ("SIGINT", 130), signal.SIGTERM: ("SIGTERM", 143)}

    def __init__(self):
        self.received = None
        self.remote = False  # the stop was requested on another worker of a cluster
        self._previous = {}

    def stop_requested_elsewhere(self):
        """Records a stop that another worker received (the cluster stops at the same step)."""
        if self.received is None:
            self.received, self.remote = signal.SIGTERM, True

    def describe(self):
        """The signal's name, e.g. "SIGTERM" or "SIGTERM on another worker"."""
        return self.SIGNALS[self.received][0] + (" on another worker" if self.remote else "")

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        print(f"\n{self.SIGNALS[signum][0]} received: saving a resumable state after this step "
              "(Ctrl-C again to abort without saving).", flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


class ResumableTraining(keras.callbacks.Callback):
    """Backs up the training state every `every_steps` steps and at each epoch end, keeps the best checkpoint,
    and stops cleanly on a signal or a NaN loss.

    Args:
        output_dir: the run folder.
        state: the `RunState` the run starts from (updated in place).
        epochs: the run's epochs.
        steps_per_epoch: steps per epoch.
        every_steps: steps between backups.
        monitor: the validation metric to maximise (e.g. "val_mean_iou").
        save_best: function(path) writing the best model's `.keras` file at `path`.
        signals: a `SignalFlag`.
        resume_command: the command that resumes the run, for messages.
    """

    def __init__(self, output_dir, state, epochs, steps_per_epoch, every_steps, monitor, save_best, signals,
                 resume_command):
        super().__init__()
        self.output_dir = pathlib.Path(output_dir)
        self.backup_dir = self.output_dir / BACKUP_DIR
        self.state = state
        self.epochs, self.steps_per_epoch, self.every_steps = epochs, steps_per_epoch, every_steps
        self.monitor, self.save_best, self.signals = monitor, save_best, signals
        self.resume_command = resume_command
        self.last_backup_step = state.global_step if self.backup_dir.joinpath(WEIGHTS_FILE).is_file() else None
        self._clock = None

    def _tick(self):
        """Adds the wall-clock time since the last tick to `state.seconds`."""
        now = time.time()
        if self._clock is not None:
            self.state.seconds += now - self._clock
        self._clock = now

    def on_train_begin(self, logs=None):
        self._clock = time.time()

    def _backup(self):
        self._tick()
        save_backup(self.model, self.backup_dir, self.state, self.epochs, self.steps_per_epoch)
        self.last_backup_step = self.state.global_step

    def _last_good(self):
        if self.last_backup_step is None:
            return "no backup was written yet"
        return f"the last good backup is {self.backup_dir / WEIGHTS_FILE} (step {self.last_backup_step})"

    def on_epoch_begin(self, epoch, logs=None):
        self.state.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.state.global_step += 1
        self.state.step_in_epoch += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"the loss became {float(loss)} at step {self.state.global_step} (epoch {self.state.epoch + 1}, "
                f"step {self.state.step_in_epoch} of {self.steps_per_epoch}); training stopped and nothing was "
                f"saved from it: {self._last_good()}. Lower train.learning_rate or check the data.")
        if self.signals.received is not None:
            name, code = self.signals.describe(), SignalFlag.SIGNALS[self.signals.received][1]
            self._backup()
            best = self.output_dir / "best.keras"
            raise TrainingInterrupted(
                f"{name}: stopped at step {self.state.global_step} (epoch {self.state.epoch + 1}, step "
                f"{self.state.step_in_epoch} of {self.steps_per_epoch}); resumable state saved to "
                f"{self.backup_dir}{f', best model so far in {best}' if best.is_file() else ''}. "
                f"Resume with: {self.resume_command}", exit_code=code)
        if self.state.global_step % self.every_steps == 0 and self.state.step_in_epoch < self.steps_per_epoch:
            self._backup()

    def on_epoch_end(self, epoch, logs=None):
        self._tick()
        if logs is not None:
            logs["train_seconds"] = round(self.state.seconds, 1)  # cumulative, into history.csv
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) > self.state.best:
            if weights_are_finite(self.model):
                write_atomic(self.output_dir / "best.keras", self.save_best)
                write_json_atomic(self.output_dir / "best.json",
                                  {"val_mean_iou": float(value), "epoch": epoch + 1,
                                   "global_step": self.state.global_step})
                self.state.best = float(value)
        self.state.epoch, self.state.step_in_epoch = epoch + 1, 0
        self.state.finished = self.state.epoch >= self.epochs
        self._backup()
