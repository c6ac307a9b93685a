"""optimizers.FusedAdam: Keras's Adam, one kernel per variable; the same numbers and checkpoints."""
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import optimizers
from tests.run_fixtures import run_script


def test_the_first_step_moves_each_weight_by_lr_against_its_gradient_sign():
  # t = 1: m = 0.1 g, sqrt(v) = sqrt(0.001) |g|, alpha = lr sqrt(0.001) / 0.1, so the step is
  # lr sign(g) |g| s / (|g| s + epsilon) with s = sqrt(0.001): lr for these gradients but the last,
  # small enough for epsilon = 1e-7 to shorten its step by 0.3%.
  var = tf.Variable([1.0, -2.0, 3.0])
  opt = optimizers.adam(0.1)
  opt.apply_gradients([(tf.constant([0.5, -4.0, 1e-3]), var)])
  s = np.sqrt(0.001)
  np.testing.assert_allclose(var.numpy(), [0.9, -1.9, 3.0 - 0.1 * 1e-3 * s / (1e-3 * s + 1e-7)],
                             rtol=0, atol=3e-6)
  assert int(opt.iterations.numpy()) == 1


def _run(opt, variables, grads, mode):
  def step(gs):
    opt.apply_gradients(zip(gs, variables))
  if mode != "eager":
    step = tf.function(step, jit_compile=mode == "xla")
  for gs in grads:
    step([tf.constant(g) for g in gs])
  return [v.numpy() for v in variables]


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_steps_equal_keras_adam_and_checkpoints_restore_across_the_two(mode, tmp_path):
  rs = np.random.RandomState(0)
  shapes = [(3, 4), (5,)]
  start = [rs.randn(*s).astype(np.float32) for s in shapes]
  grads = [[rs.randn(*s).astype(np.float32) * 10.0 ** rs.randint(-4, 2) for s in shapes]
           for _ in range(6)]
  results, opts = [], []
  for opt in (keras.optimizers.Adam(3e-3, beta_1=0.5, beta_2=0.99),
              optimizers.adam(3e-3, beta_1=0.5, beta_2=0.99)):
    variables = [tf.Variable(s) for s in start]
    results.append(_run(opt, variables, grads, mode))
    opts.append((opt, variables))
  for a, b, s in zip(*results, start):
    assert not np.allclose(a, s)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)

  # Keras's Adam saved, FusedAdam restored: the same step count and moments.
  (keras_opt, keras_vars), _ = opts
  path = tf.train.Checkpoint(opt=keras_opt, v0=keras_vars[0], v1=keras_vars[1]).save(
      str(tmp_path / "ckpt"))
  variables = [tf.Variable(np.zeros(s, np.float32)) for s in shapes]
  fused = optimizers.adam(3e-3, beta_1=0.5, beta_2=0.99)
  fused.build(variables)
  tf.train.Checkpoint(opt=fused, v0=variables[0], v1=variables[1]).restore(path) \
      .assert_existing_objects_matched()
  assert int(fused.iterations.numpy()) == 6
  for a, b in zip(fused.variables, keras_opt.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_under_loss_scaling_it_takes_the_unscaled_step_and_skips_an_overflow():
  # Adam's first step ignores a gradient's scale except beside epsilon: the small gradient shows
  # whether the scaled one was divided back before the update.
  var = tf.Variable([1.0, -2.0])
  opt = keras.optimizers.LossScaleOptimizer(optimizers.adam(0.1))
  opt.apply_gradients([(tf.constant([0.5, 1e-5]) * opt.initial_scale, var)])
  s = 1e-5 * np.sqrt(0.001)
  expected = [0.9, -2.0 - 0.1 * s / (s + 1e-7)]
  np.testing.assert_allclose(var.numpy(), expected, atol=3e-6)
  assert expected[1] > -2.08  # a scaled gradient would take the whole step, to -2.1
  opt.apply_gradients([(tf.constant([np.inf, 1.0]), var)])
  np.testing.assert_allclose(var.numpy(), expected, atol=3e-6)


MIRRORED = textwrap.dedent("""
    import keras
    from ind_prior_tf.core import optimizers
    rs = np.random.RandomState(0)
    start = rs.randn(3, 4).astype(np.float32)
    grads = [rs.randn(3, 4).astype(np.float32) for _ in range(3)]
    after = {}
    for name, make in (("keras", lambda: keras.optimizers.Adam(1e-2)),
                       ("fused", lambda: optimizers.adam(1e-2))):
      with mirrored.scope():
        var, opt = tf.Variable(start), make()
        opt.build([var])
      def replica_step(g):
        with tf.GradientTape() as tape:
          loss = tf.reduce_sum(var * g)  # gradient g on each replica, summed across them
        opt.apply_gradients([(tape.gradient(loss, var), var)])
      @tf.function
      def step(g):
        mirrored.run(replica_step, args=(g,))
      for g in grads:
        step(tf.constant(g))
      after[name] = [v.numpy().tolist() for v in var.values]  # each replica's copy
    print("RESULT " + json.dumps(after))
""")


def test_under_a_mirrored_strategy_every_replica_takes_keras_adams_steps():
  after = run_script(MIRRORED)
  assert len(after["fused"]) == 2  # two logical CPUs, a copy of the variable on each
  for keras_copy, fused_copy in zip(after["keras"], after["fused"]):
    np.testing.assert_allclose(fused_copy, keras_copy, rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(after["fused"][0], after["fused"][1])
