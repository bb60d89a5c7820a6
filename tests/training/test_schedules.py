"""Learning-rate schedules and the optimizer factory."""
import math

import keras
import numpy as np
import pytest

from kerasseg.training import WarmupSchedule, make_optimizer, recipe_optimizer, validate_config


def _rates(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_warmup_then_poly_cosine_step_and_constant():
    steps = np.arange(0, 101)
    poly = _rates(WarmupSchedule(1.0, 100, "poly", warmup_steps=10, power=0.9), steps)
    np.testing.assert_allclose(poly[:10], (steps[:10] + 1) / 10, rtol=1e-6)
    np.testing.assert_allclose(poly[10:], (1 - (steps[10:] - 10) / 90) ** 0.9, rtol=1e-5, atol=1e-7)
    assert poly[-1] == 0.0
    cosine = _rates(WarmupSchedule(2.0, 100, "cosine"), steps)
    np.testing.assert_allclose(cosine, 1.0 + np.cos(np.pi * steps / 100), rtol=1e-5, atol=1e-6)
    step = _rates(WarmupSchedule(1.0, 100, "step", step_size=30, step_factor=0.1), steps)
    np.testing.assert_allclose(step, 0.1 ** (steps // 30), rtol=1e-5)
    np.testing.assert_allclose(_rates(WarmupSchedule(0.5, 100, "constant"), steps), 0.5)
    restored = WarmupSchedule.from_config(WarmupSchedule(1.0, 100, "poly", warmup_steps=10).get_config())
    np.testing.assert_allclose(_rates(restored, steps), poly, rtol=1e-6)


def test_recipe_builds_sgd_momentum_step_schedule_and_adamw():
    train = validate_config({"model": {"name": "enet"}, "train": {
        "optimizer": "sgd", "momentum": 0.95, "lr_schedule": "step", "lr_step_epochs": 2, "lr_step_factor": 0.5,
        "learning_rate": 0.01, "epochs": 6, "warmup_steps": 0}})["train"]
    optimizer = recipe_optimizer(train, steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.95
    assert math.isclose(float(optimizer.learning_rate), 0.01, rel_tol=1e-6)
    optimizer.iterations.assign(25)  # decays every 2 epochs of 10 steps: floor(25 / 20) = 1 decay
    assert math.isclose(float(optimizer.learning_rate), 0.005, rel_tol=1e-6)
    adamw = recipe_optimizer(validate_config({"model": {"name": "enet"}})["train"], steps_per_epoch=10)
    assert isinstance(adamw, keras.optimizers.Adam) and adamw.weight_decay == 2e-4


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_l2_mode_adds_wd_times_w_to_every_gradient(optimizer):
    """l2: one step from w with gradient g equals the plain optimizer's step with gradient g + wd * w."""
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    g = np.array([[0.1, 0.2], [-0.3, 0.4]], np.float32)
    l2 = make_optimizer(0.1, 10, weight_decay=0.05, optimizer=optimizer, weight_decay_mode="l2",
                        lr_schedule="constant")
    plain = make_optimizer(0.1, 10, weight_decay=0.0, optimizer=optimizer, lr_schedule="constant")
    a, b = keras.Variable(w0, name="kernel"), keras.Variable(w0, name="kernel")
    l2.apply_gradients([(g, a)])
    plain.apply_gradients([(g + 0.05 * w0, b)])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(l2))
    assert type(restored).__name__ == type(l2).__name__
    # Adam is kerasseg's fused Adam with coupled decay; SGD the L2-regularised Keras SGD.
    assert (restored.coupled_weight_decay if optimizer == "adam" else restored.l2) == 0.05
