"""Learning-rate schedules of the recipes: linear warm-up, then poly, step, cosine or constant."""
import math

import keras
from keras import ops

from kerasseg.errors import check_name

SCHEDULES = ("poly", "step", "cosine", "constant")


@keras.saving.register_keras_serializable(package="kerasseg")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `learning_rate`, then a decay; driven by the optimizer's step, so it resumes exactly.

    - poly (DeepLab, Chen et al. 2017, arXiv 1606.00915; PSPNet): lr * (1 - t) ** power, t the fraction of
      the post-warm-up steps done, reaching 0 at `total_steps`;
    - cosine (Loshchilov & Hutter 2017, SGDR, arXiv 1608.03983, without restarts): lr * (1 + cos(pi t)) / 2;
    - step: lr * factor ** floor(step / step_size), as in the Torch ENet / FCN recipes;
    - constant: lr.
    During the first `warmup_steps` steps the rate rises linearly from lr / warmup_steps to lr (Goyal et al.
    2017, arXiv 1706.02677).

    Args:
        learning_rate: peak learning rate.
        total_steps: number of optimizer steps of the run.
        kind: one of `SCHEDULES`.
        warmup_steps: warm-up length in steps (0: none).
        power: poly exponent.
        step_size: steps between decays (kind "step").
        step_factor: multiplier at each decay (kind "step").

    Returns (when called with a step):
        The float32 learning rate.
    """

    def __init__(self, learning_rate, total_steps, kind="poly", warmup_steps=0, power=0.9, step_size=None,
                 step_factor=0.1):
        check_name("learning-rate schedule", kind, SCHEDULES)
        if kind == "step" and not step_size:
            raise ValueError("step_size (steps between decays) is required for the 'step' schedule.")
        self.learning_rate = float(learning_rate)
        self.total_steps = max(int(total_steps), 1)
        self.kind = kind
        self.warmup_steps = int(warmup_steps)
        self.power = float(power)
        self.step_size = int(step_size) if step_size else None
        self.step_factor = float(step_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        lr = self.learning_rate
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        done = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        if self.kind == "poly":
            rate = lr * ops.power(1.0 - done, self.power)
        elif self.kind == "cosine":
            rate = lr * 0.5 * (1.0 + ops.cos(math.pi * done))
        elif self.kind == "step":
            rate = lr * ops.power(self.step_factor, ops.floor(step / self.step_size))
        else:
            rate = lr + 0.0 * step
        if self.warmup_steps:
            warm = lr * ops.minimum(step + 1.0, float(self.warmup_steps)) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps, "kind": self.kind,
                "warmup_steps": self.warmup_steps, "power": self.power, "step_size": self.step_size,
                "step_factor": self.step_factor}
