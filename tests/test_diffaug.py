"""Differentiable augmentation (diffaug.py): the policy, what each op does to known pixels, gradients,
and the draws (only the policy's ops; nothing at all when off). Tiny tensors, no training."""
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf import choices
from ind_prior_tf.core import diffaug
from ind_prior_tf.errors import FlagError

S = 8  # image size: shifts in [-1, 1], cutout squares of side 4


def params(batch=2, **columns):
  """Neutral parameters with some columns set, e.g. params(SHIFT_Y=[1, -1])."""
  p = np.tile(np.float32(diffaug.NEUTRAL), [batch, 1])
  for name, value in columns.items():
    p[:, getattr(diffaug, name)] = value
  return tf.constant(p)


def images(batch=2, seed=0):
  return tf.constant(np.random.default_rng(seed).uniform(size=[batch, S, S, 3]).astype(np.float32))


def test_policy_parsing_and_refusal_names_the_flag():
  assert choices.parse_diffaug("") == ()
  assert choices.parse_diffaug("cutout, color") == ("color", "cutout")  # applied in a fixed order
  for bad in ("colour", "color,color", "color,"):
    with pytest.raises(FlagError, match="--diffaug="):
      choices.parse_diffaug(bad)


def test_neutral_parameters_are_the_identity():
  x = images()
  np.testing.assert_allclose(diffaug.augment(x, params()).numpy(), x.numpy(), atol=1e-6)


def test_translation_moves_a_pixel_by_the_shift_and_fills_with_zeros():
  x = np.zeros([2, S, S, 3], np.float32)
  x[:, 3, 4] = 1.0
  x[:, 0, :] = 0.5  # the top row: leaves the image when shifted up
  out = diffaug.augment(tf.constant(x), params(SHIFT_Y=[1, -1], SHIFT_X=[-1, 1])).numpy()
  assert out[0, 4, 3].tolist() == [1.0] * 3 and out[1, 2, 5].tolist() == [1.0] * 3
  assert (out[0, 0] == 0).all()  # shifted down: the new top row is zero fill
  assert np.isclose(out[0, 1, :S - 1], 0.5).all() and (out[0, 1, S - 1] == 0).all()
  assert out[1].sum() == 3.0  # shifted up: the 0.5 row is gone


def test_cutout_zeroes_exactly_the_drawn_square():
  x = tf.ones([2, S, S, 1])
  out = diffaug.augment(x, params(CUT_Y=[4, 0], CUT_X=[2, 8], CUT=1.0)).numpy()[..., 0]
  expected = np.ones([2, S, S], np.float32)
  expected[0, 2:6, 0:4] = 0  # side 4 centred at (4, 2)
  expected[1, 0:2, 6:8] = 0  # centred at the corner (0, 8): clipped to the image
  np.testing.assert_array_equal(out, expected)


def test_colour_known_values():
  x = tf.constant([[[[0.2, 0.4, 0.6]]], [[[0.2, 0.4, 0.6]]]])  # two 1x1 images
  out = diffaug.augment(x, params(BRIGHTNESS=[0.1, 0.0], SATURATION=[1.0, 0.0])).numpy()
  np.testing.assert_allclose(out[0, 0, 0], [0.3, 0.5, 0.7], atol=1e-6)
  np.testing.assert_allclose(out[1, 0, 0], [0.4, 0.4, 0.4], atol=1e-6)  # saturation 0: grey
  y = tf.constant([[[[0.0]], [[1.0]]]])  # [1, 2, 1, 1]: mean 0.5
  np.testing.assert_allclose(diffaug.augment(y, params(1, CONTRAST=1.5)).numpy().ravel(),
                             [-0.25, 1.25], atol=1e-6)  # not clipped, as in DiffAugment


def test_gradients_reach_the_input_outside_the_cutout():
  x = images()
  p = params(SATURATION=0.5, SHIFT_X=1, CUT_Y=4, CUT_X=4, CUT=1.0)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(diffaug.augment(x, p))
  g = tape.gradient(y, x).numpy()
  assert np.isfinite(g).all() and (np.abs(g).sum(axis=-1) > 0).mean() > 0.5


def test_draws_stay_in_range_and_only_for_the_policy():
  rng = tf.random.Generator.from_seed(0)
  before = rng.state.numpy().copy()
  np.testing.assert_array_equal(diffaug.draw(rng, 3, 64, ()).numpy(), params(3).numpy())
  np.testing.assert_array_equal(rng.state.numpy(), before)  # off: the random stream is untouched
  p = diffaug.draw(rng, 500, 64, ("color", "translation", "cutout")).numpy()
  b, s, c = p[:, diffaug.BRIGHTNESS], p[:, diffaug.SATURATION], p[:, diffaug.CONTRAST]
  assert -0.25 <= b.min() < -0.2 and 0.2 < b.max() < 0.25 and 0 <= s.min() and s.max() < 2
  assert 0.5 <= c.min() and c.max() < 1.5
  shift = p[:, diffaug.SHIFT_Y:diffaug.SHIFT_X + 1]
  assert shift.min() == -8 and shift.max() == 8 and (shift == np.round(shift)).all()
  centre = p[:, diffaug.CUT_Y:diffaug.CUT_X + 1]
  assert centre.min() == 0 and centre.max() == 64 and (p[:, diffaug.CUT] == 1).all()
  only = diffaug.draw(rng, 4, 64, ("translation",)).numpy()
  neutral = np.float32(diffaug.NEUTRAL)
  keep = [i for i in range(diffaug.PARAMS) if i not in (diffaug.SHIFT_Y, diffaug.SHIFT_X)]
  np.testing.assert_array_equal(only[:, keep], np.tile(neutral[keep], [4, 1]))


def test_augment_compiles_with_xla_and_keeps_the_shape():
  rng = tf.random.Generator.from_seed(1)
  x = images(4)
  p = diffaug.draw(rng, 4, S, ("color", "translation", "cutout"))
  out = tf.function(diffaug.augment, jit_compile=True)(x, p)
  assert out.shape == x.shape
  np.testing.assert_allclose(out.numpy(), diffaug.augment(x, p).numpy(), atol=1e-5)
