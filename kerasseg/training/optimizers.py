"""Adam and AdamW with one fused `ResourceApplyAdam` kernel per variable.

Keras 3's Adam builds about ten TensorFlow ops per variable and step (the bias-correction powers, the moment
updates, the square root, the division, the assignments) and the decoupled weight decay four more, evaluating
the learning-rate schedule again for every variable: for ENet's 358 variables that is most of the ~25,000 ops
of the traced training step, and executor overhead rather than arithmetic dominates it on a CPU. These
subclasses compute the step's scalars (learning rate, beta powers, decay factor) once and update each variable
with TensorFlow's fused Adam kernel, the same arithmetic as `keras.optimizers.Adam.update_step`:

    m <- m + (g - m) (1 - beta_1);  v <- v + (g^2 - v) (1 - beta_2)
    w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon)

They keep Keras' arguments, config and optimizer variables (iterations, learning rate, one momentum and one
velocity per variable, in the same order), so optimizer state saved by `keras.optimizers.Adam` loads into
them and back. `amsgrad`, sparse gradients and distribution strategies other than the default take Keras' own
per-variable path.

Besides Keras' decoupled `weight_decay` (AdamW: w <- w - lr wd w), `coupled_weight_decay` adds the gradient of
an L2 penalty, wd w, to the gradient before the Adam update (the "weight decay" of the Torch/Caffe recipes, e.g.
ENet's 2e-4). `exclude_from_weight_decay` excludes variables from both.

Reference: Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; Loshchilov and Hutter,
"Decoupled Weight Decay Regularization", ICLR 2019.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasseg")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` updating each variable with one fused `ResourceApplyAdam` kernel.

    Args:
        learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, ...: as `keras.optimizers.Adam`
            (`weight_decay` is decoupled, as in Keras).
        coupled_weight_decay: L2 coefficient wd whose gradient wd * w is added to each decayed variable's
            gradient before the Adam update; 0 for none.
        fused: False takes Keras' own per-variable update (for comparison; `train.fused_optimizer: false`).

    Returns:
        An optimizer whose updates equal `keras.optimizers.Adam`'s to float32 round-off.
    """

    def __init__(self, *args, coupled_weight_decay=0.0, fused=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not coupled_weight_decay >= 0.0:
            raise ValueError(f"coupled_weight_decay must be >= 0, got {coupled_weight_decay!r}.")
        self.coupled_weight_decay = float(coupled_weight_decay)
        self.fused = bool(fused)

    def _fused(self):
        return self.fused and not self.amsgrad and not tf.distribute.has_strategy()

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or not self._fused():
            return super()._apply_weight_decay(variables)
        # One learning-rate evaluation for all variables instead of one per variable.
        decay = tf.cast(self.learning_rate, tf.float32) * tf.cast(self.weight_decay, tf.float32)
        for variable in variables:
            if self._use_weight_decay(variable):
                tf_variable = variable.value if isinstance(variable, keras.Variable) else variable
                tf_variable.assign_sub(tf_variable * tf.cast(decay, tf_variable.dtype))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._fused() or any(isinstance(g, tf.IndexedSlices) for g in grads):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        step = tf.cast(self.iterations + 1, tf.float32)
        scalars = {}

        def scalars_for(dtype):
            if dtype not in scalars:
                cast = lambda value: tf.cast(value, dtype)  # noqa: E731
                scalars[dtype] = dict(
                    lr=cast(learning_rate), beta1_power=cast(tf.pow(tf.cast(self.beta_1, tf.float32), step)),
                    beta2_power=cast(tf.pow(tf.cast(self.beta_2, tf.float32), step)), beta1=cast(self.beta_1),
                    beta2=cast(self.beta_2), epsilon=cast(self.epsilon),
                    coupled_weight_decay=cast(self.coupled_weight_decay),
                )
            return scalars[dtype]

        for grad, variable in zip(grads, trainable_variables):
            tf_variable = variable.value if isinstance(variable, keras.Variable) else variable
            s = scalars_for(tf_variable.dtype)
            grad = tf.cast(grad, tf_variable.dtype)
            if self.coupled_weight_decay and self._use_weight_decay(variable):
                grad = grad + s["coupled_weight_decay"] * tf_variable
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=tf_variable.handle, m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle, beta1_power=s["beta1_power"],
                beta2_power=s["beta2_power"], lr=s["lr"], beta1=s["beta1"], beta2=s["beta2"],
                epsilon=s["epsilon"], grad=grad, use_locking=False, use_nesterov=False,
            )

    def update_step(self, gradient, variable, learning_rate):
        # Keras' per-variable path (amsgrad, sparse gradients, distribution strategies) with the coupled decay.
        if self.coupled_weight_decay and self._use_weight_decay(variable):
            gradient = gradient + tf.cast(self.coupled_weight_decay, variable.dtype) * variable
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "coupled_weight_decay": self.coupled_weight_decay, "fused": self.fused}


@keras.saving.register_keras_serializable(package="kerasseg")
class AdamW(Adam):
    """`keras.optimizers.AdamW` (Adam with decoupled weight decay, default 0.004) on the fused kernel.

    Args:
        weight_decay: the decoupled weight decay (w <- w - lr * weight_decay * w).
        Others: as `kerasseg.training.optimizers.Adam`.

    Returns:
        An optimizer whose updates equal `keras.optimizers.AdamW`'s to float32 round-off.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay; use Adam for none.")
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
