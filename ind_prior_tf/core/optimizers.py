"""Adam, as every application trains with it: keras.optimizers.Adam's variables and formula, applied by
one TensorFlow kernel per variable.

Keras 3 writes Adam's update as about twenty-five small ops per variable (casts, powers, two moment
updates, the step), so a train step's graph holds thousands of them, and tracing and compiling them is
a large part of every run's start (and of a small model's step: docs/results.md, 2026-12-02).
`ResourceApplyAdam` (TF's fused kernel, with an XLA lowering) computes the same update in one op:

  alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
  m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2);  var -= alpha * m / (sqrt(v) + epsilon)

which is keras.optimizers.Adam.update_step term for term, so results differ by float round-off only.
The optimizer keeps Keras's variables (iterations, momentums, velocities), so checkpoints written with
either class restore into the other, and it works under loss scaling (precision.wrap_optimizer) and
tf.distribute strategies (inside Strategy.extended.update a mirrored slot's handle is its local copy).
"""
import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
  """keras.optimizers.Adam whose update_step is one ResourceApplyAdam per variable (module doc).
  AMSGrad, and variables that are not TF resource variables, take Keras's own update."""

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad or not isinstance(variable, tf.Variable):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    m, v = self._momentums[index].value, self._velocities[index].value
    t = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=m.handle, v=v.handle, beta1_power=tf.pow(beta_1, t),
        beta2_power=tf.pow(beta_2, t), lr=tf.cast(learning_rate, dtype), beta1=beta_1,
        beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def adam(learning_rate, beta_1=0.9, beta_2=0.999):
  """The Adam of every training step (FusedAdam; Keras's defaults otherwise)."""
  return FusedAdam(learning_rate, beta_1=beta_1, beta_2=beta_2)
