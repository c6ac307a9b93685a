import numpy as np
import tensorflow as tf

from ind_prior_tf.core import layout


def _rgba(b=2, s=16, seed=0):
  return tf.constant(np.random.default_rng(seed).uniform(size=(b, s, s, 4)).astype(np.float32))


def test_identity_and_identity_warp_are_noops():
  x = _rgba()
  assert layout.identity(x) is x
  theta = tf.tile(layout.affine_theta(1.0)[None], [2, 1, 1])
  np.testing.assert_allclose(layout.affine_warp(x, theta), x, atol=1e-5)


def test_integer_translation_shifts_pixels():
  x = _rgba(1, 9)
  # Moving by 2 pixels of a 9-pixel image: t = 2 / ((9 - 1) / 2) in normalised units.
  theta = layout.affine_theta(1.0, tx=0.5, ty=0.0)[None]
  out = layout.affine_warp(x, theta).numpy()
  np.testing.assert_allclose(out[0, :, 2:], x.numpy()[0, :, :-2], atol=1e-5)
  np.testing.assert_allclose(out[0, :, :2], 0.0)  # outside the source reads as transparent


def test_scale_two_magnifies_the_centre():
  x = _rgba(1, 9)
  out = layout.affine_warp(x, layout.affine_theta(2.0)[None]).numpy()
  np.testing.assert_allclose(out[0, 4, 4], x.numpy()[0, 4, 4], atol=1e-5)
  np.testing.assert_allclose(out[0, 4, 6], x.numpy()[0, 4, 5], atol=1e-5)


def test_warp_gradient_reaches_image_and_theta():
  x = tf.Variable(_rgba(1, 8))
  theta = tf.Variable(layout.affine_theta(1.2, 0.1, -0.1, 0.2)[None])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layout.affine_warp(x, theta) * tf.range(8.0)[:, None, None])
  gx, gt = tape.gradient(loss, [x, theta])
  assert np.abs(gx.numpy()).sum() > 0 and np.abs(gt.numpy()).sum() > 0


def test_pad_and_random_crop_is_an_exact_window_of_the_padded_instance():
  x = _rgba(8, 12)
  pad = 5
  rng = tf.random.Generator.from_seed(3)
  out, (oy, ox) = layout.pad_and_random_crop(x, pad, rng, return_offsets=True)
  padded = np.pad(x.numpy(), [(0, 0), (pad, pad), (pad, pad), (0, 0)])
  oy, ox = oy.numpy().astype(int), ox.numpy().astype(int)
  assert ((oy >= 0) & (oy <= 2 * pad)).all() and ((ox >= 0) & (ox <= 2 * pad)).all()
  assert len(set(zip(oy, ox))) > 1  # offsets really differ per sample
  for b in range(8):
    np.testing.assert_array_equal(out.numpy()[b], padded[b, oy[b]:oy[b] + 12, ox[b]:ox[b] + 12])


def test_small_centred_instance_stays_whole_when_shift_fits():
  # A 4x4 opaque square centred in a 16x16 canvas, pad 6: any shift keeps all of it in the window.
  x = np.zeros((16, 1, 16, 16, 4), np.float32)
  x[..., 6:10, 6:10, :] = 1.0
  rng = tf.random.Generator.from_seed(0)
  out = layout.pad_and_random_crop(tf.constant(x[:, 0]), 6, rng).numpy()
  np.testing.assert_allclose(out[..., 3].sum(axis=(1, 2)), 16.0)


def test_warps_compile_under_xla():
  rng = tf.random.Generator.from_seed(1)

  @tf.function(jit_compile=True)
  def f(x):
    theta = layout.random_affine_theta(rng, 2, scale=(0.8, 1.2), translate=0.2, angle=0.3)
    return (layout.affine_warp(x, theta), layout.pad_and_random_crop(x, 4, rng),
            layout.random_flip_left_right(x, rng))

  warped, cropped, flipped = f(_rgba())
  assert warped.shape == cropped.shape == flipped.shape == (2, 16, 16, 4)
  assert np.isfinite(warped.numpy()).all()
