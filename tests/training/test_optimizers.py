import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg.training.optimizers import Adam, AdamW


def _variables(seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"kernel": (3, 3, 2, 4), "gamma": (4,), "bias": (5,)}
    return [keras.Variable(rng.normal(0, 1, shape).astype(np.float32), name=name) for name, shape in shapes.items()]


def _run(optimizer, steps=5, seed=0, exclude=("gamma", "bias")):
    variables = _variables(seed)
    if exclude:
        optimizer.exclude_from_weight_decay(var_names=list(exclude))
    rng = np.random.default_rng(seed + 1)

    @tf.function
    def apply(grads):
        optimizer.apply(grads, variables)

    for _ in range(steps):
        apply([tf.constant(rng.normal(0, 1, v.shape).astype(np.float32)) for v in variables])
    return [v.numpy() for v in variables], optimizer


def _assert_close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=1e-2),
    dict(learning_rate=keras.optimizers.schedules.PolynomialDecay(5e-3, 10, 0.0, power=0.9), weight_decay=2e-4),
    dict(learning_rate=3e-3, beta_1=0.8, beta_2=0.99, epsilon=1e-4, weight_decay=0.1),
])
def test_updates_equal_keras_adam(kwargs):
    fused, _ = _run(Adam(**kwargs))
    reference, _ = _run(keras.optimizers.Adam(**kwargs))
    _assert_close(fused, reference)
    assert not np.allclose(fused[0], _variables()[0].numpy())


def test_adamw_equals_keras_adamw():
    _assert_close(_run(AdamW(learning_rate=1e-2, weight_decay=0.05))[0],
                  _run(keras.optimizers.AdamW(learning_rate=1e-2, weight_decay=0.05))[0])


def test_coupled_weight_decay_is_l2_gradient_on_decayed_variables():
    wd, steps = 0.05, 4
    fused, _ = _run(Adam(learning_rate=1e-2, coupled_weight_decay=wd), steps=steps)
    # Reference: Keras Adam on g + wd * w for the kernel only (gamma and bias excluded).
    variables, optimizer = _variables(), keras.optimizers.Adam(learning_rate=1e-2)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        grads = [tf.constant(rng.normal(0, 1, v.shape).astype(np.float32)) for v in variables]
        grads[0] = grads[0] + wd * variables[0].value
        optimizer.apply(grads, variables)
    _assert_close(fused, [v.numpy() for v in variables])
    # And it is not a no-op: without the decay the kernel ends elsewhere.
    assert not np.allclose(fused[0], _run(Adam(learning_rate=1e-2), steps=steps)[0][0], atol=1e-6)


def test_amsgrad_path_equals_keras():
    _assert_close(_run(Adam(learning_rate=1e-2, amsgrad=True, coupled_weight_decay=0.0))[0],
                  _run(keras.optimizers.Adam(learning_rate=1e-2, amsgrad=True))[0])


def test_same_variables_and_keras_state_loads():
    _, keras_adam = _run(keras.optimizers.Adam(learning_rate=1e-2), exclude=())
    _, fused = _run(Adam(learning_rate=1e-2), exclude=(), seed=7)
    assert [(v.name, v.shape) for v in fused.variables] == [(v.name, v.shape) for v in keras_adam.variables]
    store = {}
    keras_adam.save_own_variables(store)
    fused.load_own_variables(store)
    for got, want in zip(fused.variables, keras_adam.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_config_round_trip_and_bad_argument():
    optimizer = Adam(learning_rate=2e-3, weight_decay=1e-4, coupled_weight_decay=2e-4)
    config = keras.optimizers.serialize(optimizer)
    restored = keras.optimizers.deserialize(config)
    assert type(restored) is Adam and restored.coupled_weight_decay == 2e-4 and restored.weight_decay == 1e-4
    with pytest.raises(ValueError, match="coupled_weight_decay"):
        Adam(coupled_weight_decay=-1.0)


def test_model_fit_matches_keras_adam():
    def train(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.compile(optimizer=optimizer, loss="mse")
        x = np.random.default_rng(0).normal(0, 1, (32, 4)).astype(np.float32)
        model.fit(x, x[:, :2], batch_size=8, epochs=2, verbose=0, shuffle=False)
        return [w.numpy() for w in model.weights]

    _assert_close(train(Adam(1e-2, weight_decay=1e-3)), train(keras.optimizers.Adam(1e-2, weight_decay=1e-3)))


def test_one_fused_kernel_per_variable_in_the_traced_step():
    variables, optimizer = _variables(), Adam(learning_rate=1e-2, weight_decay=1e-3)
    grads = [tf.zeros(v.shape) for v in variables]
    optimizer.build(variables)
    graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
    op_types = [op.type for op in graph.get_operations()]
    assert op_types.count("ResourceApplyAdam") == len(variables)
    assert op_types.count("Pow") == 2  # the bias-correction powers, once per step


def test_recipe_can_turn_the_fused_update_off():
    from kerasseg.training import validate_config
    from kerasseg.training.fit import recipe_optimizer

    variables = _variables()
    grads = [tf.zeros(v.shape) for v in variables]
    for fused in (True, False):
        train = validate_config({"model": {"name": "enet"}, "train": {"fused_optimizer": fused}})["train"]
        optimizer = recipe_optimizer(train, steps_per_epoch=10)
        optimizer.build(variables)
        graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
        fused_ops = [op.type for op in graph.get_operations()].count("ResourceApplyAdam")
        assert optimizer.fused is fused and fused_ops == (len(variables) if fused else 0)


def test_checkpoint_compiled_with_it_loads_after_import_kerasseg(tmp_path):
    from tests.helpers import keras_round_trip

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
    model.compile(optimizer=Adam(1e-2, coupled_weight_decay=1e-4), loss="mse")
    x = np.ones((4, 4), np.float32)
    model.fit(x, x[:, :2], verbose=0)
    diff, optimizer = keras_round_trip(model, x, tmp_path, extra="type(m.optimizer).__module__")
    assert diff == 0.0 and optimizer == "kerasseg.training.optimizers"
