"""Recolouring (augment.py): tints are drawn only when asked for, and adversarial training recolours a
crop and the background patch it is composited over by the same tint."""
import numpy as np
import tensorflow as tf

from ind_prior_tf.core import augment
from ind_prior_tf.fgseg import gan as fgseg_lib
from tests.run_fixtures import TINY_GAN as TINY
from tests.run_fixtures import green_pool, separable_set


def test_draw_tints_draws_nothing_at_zero_and_stays_in_range():
  rng = tf.random.Generator.from_seed(0)
  before = rng.state.numpy().copy()
  np.testing.assert_array_equal(augment.draw_tints(rng, 5, 0.0).numpy(), np.ones([5, 2]))
  np.testing.assert_array_equal(rng.state.numpy(), before)  # runs without recolouring unchanged
  tint = augment.draw_tints(rng, 1000, 1.0).numpy()
  assert (tint[:, 0] >= 0).all() and (tint[:, 0] < 1).all()
  assert (tint[:, 1] >= augment.GAMMA_RANGE[0]).all() and (tint[:, 1] <= augment.GAMMA_RANGE[1]).all()
  assert np.mean(tint[:, 1] < 1) > 0.5  # log-uniform in [1/4, 2]: 2/3 of the gammas lighten
  half = augment.draw_tints(rng, 1000, 0.5).numpy()
  assert 400 < np.sum((half != 1).any(axis=1)) < 600


def test_gan_step_recolours_crops_and_backgrounds_by_the_same_tint(monkeypatch):
  calls = []
  recolor = augment.recolor

  def recording(images, tint):
    calls.append((images.numpy(), tint.numpy()))
    return recolor(images, tint)

  monkeypatch.setattr(augment, "recolor", recording)
  images = tf.constant(separable_set(4)[0])
  tf.config.run_functions_eagerly(True)
  try:
    plain = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(**TINY, jit=False))
    plain.train_step(images, green_pool(8))
    assert not calls  # recolor=0: the paper's step
    gan = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(**TINY, jit=False, recolor=1.0))
    out = gan.train_step(images, green_pool(8))
  finally:
    tf.config.run_functions_eagerly(False)
  assert np.isfinite([float(v) for v in out.values()]).all()
  (crops, tint_a), (patches, tint_b) = calls
  np.testing.assert_array_equal(crops, images.numpy())
  np.testing.assert_array_equal(tint_a, tint_b)  # one tint per crop and its patch
  assert crops.shape == patches.shape and (tint_a != 1).all()  # recolor=1: every sample tinted


def test_gan_step_with_recolouring_compiles():
  gan = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(**TINY, recolor=0.5))  # XLA, as in runs
  out = gan.train_step(tf.constant(separable_set(4)[0]), green_pool(8))
  assert np.isfinite([float(v) for v in out.values()]).all()
