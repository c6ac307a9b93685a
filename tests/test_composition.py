import numpy as np
import tensorflow as tf

from ind_prior_tf.core import composition


def test_two_layers_by_hand():
  # One pixel, two layers over black: x1 = I1 m1; x2 = I2 m2 + x1 (1 - m2).
  l1 = np.array([0.8, 0.4, 0.2, 0.5], np.float32)
  l2 = np.array([0.1, 0.9, 0.5, 0.25], np.float32)
  layers = tf.constant(np.stack([l1, l2])[None, :, None, None, :])
  x1 = l1[:3] * 0.5
  x2 = l2[:3] * 0.25 + x1 * 0.75  # = [0.325, 0.375, 0.2]
  out = composition.alpha_composite(layers).numpy()[0, 0, 0]
  np.testing.assert_allclose(out, x2, rtol=1e-6)
  np.testing.assert_allclose(out, [0.325, 0.375, 0.2], rtol=1e-6)


def test_background_and_list_input():
  bg = tf.fill([1, 2, 2, 3], 0.6)
  alpha = tf.reshape(tf.constant([0., 1., 0.5, 0.25]), [1, 2, 2, 1])
  fg = tf.concat([tf.fill([1, 2, 2, 3], 0.2), alpha], -1)
  out = composition.alpha_composite([fg], background=bg).numpy()
  np.testing.assert_allclose(out[0, :, :, 0].ravel(), [0.6, 0.2, 0.4, 0.5], rtol=1e-6)


def test_opaque_top_layer_hides_everything_and_transparent_is_noop():
  rng = np.random.default_rng(0)
  under = rng.uniform(size=(2, 3, 4, 4, 4)).astype(np.float32)
  top = np.concatenate([rng.uniform(size=(2, 1, 4, 4, 3)), np.ones((2, 1, 4, 4, 1))], -1)
  out = composition.alpha_composite(np.concatenate([under, top], 1).astype(np.float32))
  np.testing.assert_allclose(out, top[:, 0, ..., :3], rtol=1e-6)
  clear = np.zeros((2, 1, 4, 4, 4), np.float32)
  np.testing.assert_allclose(composition.alpha_composite(np.concatenate([under, clear], 1)),
                             composition.alpha_composite(under), rtol=1e-6)


def test_carve():
  rgba = tf.constant([[[[0.5, 1.0, 0.2, 0.5]]]])
  np.testing.assert_allclose(composition.carve(rgba).numpy().ravel(), [0.25, 0.5, 0.1])
