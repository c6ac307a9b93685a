"""Every loss against values computed by hand."""
import math

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import losses


def _sig(x):
  return 1.0 / (1.0 + math.exp(-x))


def test_discriminator_loss_by_hand():
  real, fake = tf.constant([2.0, -1.0]), tf.constant([0.5, -3.0])
  want = (-(math.log(_sig(2.0)) + math.log(_sig(-1.0))) / 2
          - (math.log(1 - _sig(0.5)) + math.log(1 - _sig(-3.0))) / 2)
  assert float(losses.discriminator_loss(real, fake)) == pytest.approx(want, rel=1e-6)


def test_generator_loss_is_non_saturating():
  fake = tf.constant([0.5, -3.0])
  want = -(math.log(_sig(0.5)) + math.log(_sig(-3.0))) / 2
  assert float(losses.generator_loss(fake)) == pytest.approx(want, rel=1e-6)
  # Its gradient does not vanish where D confidently rejects the fake (the point of the fix).
  x = tf.Variable([-10.0])
  with tf.GradientTape() as tape:
    loss = losses.generator_loss(x)
  assert float(tape.gradient(loss, x)[0]) == pytest.approx(-_sig(10.0), rel=1e-4)


def test_bce_from_logits_is_finite_for_huge_logits():
  assert np.isfinite(float(losses.discriminator_loss(tf.constant([1e4]), tf.constant([-1e4]))))
  assert float(losses.generator_loss(tf.constant([-1e4]))) == pytest.approx(1e4)


def _masks():
  # Two 2x2 masks with areas 0.5 and 0.25.
  return tf.constant([[[1., 0.], [1., 0.]], [[0.5, 0.], [0., 0.5]]])[..., None]


def test_area_penalty_as_printed():
  # mean((0.5 - 0.25)^2, (0.25 - 0.25)^2) = 0.03125
  assert float(losses.area_penalty(_masks(), 0.25)) == pytest.approx(0.03125)


def test_area_penalty_variants():
  m = _masks()
  assert float(losses.area_penalty(m, 0.25, "batch_squared")) == pytest.approx((0.375 - 0.25) ** 2)
  assert float(losses.area_penalty(m, 0.4, "hinge")) == pytest.approx(0.1 ** 2 / 2)
  assert float(losses.area_penalty(m, 0.4, "linear")) == pytest.approx(0.375)
  with pytest.raises(ValueError, match="area penalty form"):
    losses.area_penalty(m, 0.25, "cubic")


def test_area_floor_penalty_charges_only_masks_below_the_floor():
  m = _masks()  # areas 0.5 and 0.25
  assert float(losses.area_floor_penalty(m, 0.4)) == pytest.approx(0.15 ** 2 / 2)
  assert float(losses.area_floor_penalty(m, 0.2)) == 0.0
  assert float(losses.area_floor_penalty(m, 0.6)) == pytest.approx((0.1 ** 2 + 0.35 ** 2) / 2)


def test_area_penalty_over_layers():
  # [B=1, N=2, H, W, 1]: the mean over the N layers of one sample, as in eq. 7.
  m = tf.reshape(_masks(), [1, 2, 2, 2, 1])
  assert float(losses.area_penalty(m, 0.25)) == pytest.approx(0.03125)


def test_mask_total_variation_by_hand():
  # Mask 1 [[1, 0], [1, 0]]: vertical steps 0, 0; horizontal 1, 1. Mask 2 [[.5, 0], [0, .5]]: .5 each.
  # Vertical mean (0 + 0 + .5 + .5) / 4 plus horizontal mean (1 + 1 + .5 + .5) / 4.
  assert float(losses.mask_total_variation(_masks())) == pytest.approx(0.25 + 0.75)


def test_mask_total_variation_charges_holes_and_lines_not_area():
  yy, xx = np.mgrid[:32, :32]
  disk = ((yy - 16) ** 2 + (xx - 16) ** 2 < 100).astype(np.float32)
  holed = disk * ((yy - 16) ** 2 + (xx - 16) ** 2 >= 16)
  lined = np.maximum(disk, (yy == 28).astype(np.float32))
  tv = lambda m: float(losses.mask_total_variation(tf.constant(m[None, ..., None])))
  assert tv(holed) > tv(disk) and tv(lined) > tv(disk)
  assert tv(np.ones((32, 32), np.float32)) == 0.0
  # A shift inside the frame keeps the boundary length.
  assert tv(np.roll(disk, 3, axis=1)) == pytest.approx(tv(disk))


def test_rgb_to_lab_known_colours_and_skimage():
  lab = losses.rgb_to_lab(tf.constant([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])).numpy()
  np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=1e-3)
  np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=1e-3)
  np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)  # sRGB red, CIE D65
  skimage_color = pytest.importorskip("skimage.color")
  x = np.random.RandomState(0).rand(2, 5, 5, 3).astype(np.float32)
  np.testing.assert_allclose(losses.rgb_to_lab(x).numpy(), skimage_color.rgb2lab(x), atol=0.02)


def test_pairwise_affinity_loss_by_hand():
  # A uniform 3x3 image: every pair 2 px apart is similar. They are (0,0)-(0,2), (1,0)-(1,2),
  # (2,0)-(2,2) across, three down, (0,0)-(2,2) and (0,2)-(2,0) diagonally: 8 pairs. The mask is 0.5
  # everywhere but m(0,0) = 0.9 and m(0,2) = 0.8: that pair has P = .9 * .8 + .1 * .2 = .74, every
  # other pair has an end at 0.5 and P = .5.
  grey = tf.fill([1, 3, 3, 3], 0.4)
  m = np.full([1, 3, 3, 1], 0.5, np.float32)
  m[0, 0, 0], m[0, 0, 2] = 0.9, 0.8
  expected = (-math.log(0.74) + 7 * math.log(2)) / 8
  assert float(losses.pairwise_affinity_loss(tf.constant(m), grey)) == pytest.approx(expected, rel=1e-5)
  # Binary masks, clipped to [1e-6, 1 - 1e-6]: P is about 1 for equal labels and 2e-6 for different
  # ones. The mask 1 on the left column only cuts the 3 across pairs and the 2 diagonals.
  m = np.zeros([1, 3, 3, 1], np.float32)
  m[0, :, 0] = 1.0
  expected = 5.0 / 8.0 * -math.log(2e-6)
  assert float(losses.pairwise_affinity_loss(tf.constant(m), grey)) == pytest.approx(expected, rel=2e-3)
  assert float(losses.pairwise_affinity_loss(tf.ones([1, 3, 3, 1]), grey)) == pytest.approx(0, abs=1e-5)


def test_pairwise_affinity_loss_lets_masks_cut_along_colour_edges_only():
  # Left half black, right half white: no pair across the edge is similar, so a mask that cuts there
  # costs nothing, and the same cut anywhere else costs.
  image = np.zeros([1, 16, 16, 3], np.float32)
  image[:, :, 8:] = 1.0
  along = np.zeros([1, 16, 16, 1], np.float32)
  along[:, :, :8] = 1.0
  across = np.zeros([1, 16, 16, 1], np.float32)
  across[:, :8] = 1.0
  loss = lambda m: float(losses.pairwise_affinity_loss(tf.constant(m), tf.constant(image)))
  assert loss(along) == pytest.approx(0.0, abs=1e-5)
  assert loss(across) > 1.0
  # Nothing similar: in a 3x3 image whose four corners (each pair of them 2 px apart) and the two
  # pairs of edge midpoints have four different colours, any mask costs 0 (not NaN).
  k, w, r, b = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
  image = tf.constant([[[k, r, w], [k, w, w], [r, b, b]]])
  mask = tf.constant(np.random.RandomState(1).rand(1, 3, 3, 1).astype(np.float32))
  assert float(losses.pairwise_affinity_loss(mask, image)) == 0.0


def test_colour_model_loss_by_hand():
  # One 1x4 image, pixels red, red, green, green; 2 bins per channel, so red and green fall in two
  # of 8 cells. Mask (1, 1, 1, 0) with no pseudo-counts: the foreground histogram holds 2 red, 1
  # green; the background 1 green. Loss = -(log 2/3 + log 2/3 + log 1/3 + log 1) / 4.
  image = tf.constant([[[[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]]]])
  mask = tf.constant([[[[1.0], [1.0], [1.0], [0.0]]]])
  expected = -(2 * math.log(2 / 3) + math.log(1 / 3)) / 4
  got = float(losses.colour_model_loss(mask, image, bins=2, prior=1e-12))
  assert got == pytest.approx(expected, rel=1e-5)
  # A mask that splits the colours exactly costs nothing; a mask of 0.5 everywhere costs log 2.
  split = tf.constant([[[[1.0], [1.0], [0.0], [0.0]]]])
  assert float(losses.colour_model_loss(split, image, bins=2, prior=1e-12)) == pytest.approx(0, abs=1e-6)
  half = tf.fill([1, 1, 4, 1], 0.5)
  half_loss = losses.colour_model_loss(half, image, bins=2, prior=1e-12)
  assert float(half_loss) == pytest.approx(math.log(2))
  # Each image has its own histograms: beside a copy with red and green swapped (same mask), each
  # scores as alone; histograms shared by the batch would hold 3 red and 3 green and give log 2.
  both = tf.concat([image, tf.gather(image, [1, 0, 2], axis=-1)], 0)
  masks = tf.concat([mask, mask], 0)
  got = float(losses.colour_model_loss(masks, both, bins=2, prior=1e-12))
  assert got == pytest.approx(expected, rel=1e-5)


def test_colour_model_loss_pushes_a_stray_pixel_to_the_label_of_its_colour():
  # The mask takes in one green pixel among red ones; the rest of the green is outside: its gradient
  # lowers that pixel's mask and raises no red pixel's.
  image = np.zeros([1, 4, 4, 3], np.float32)
  image[:, :, :2, 0] = 1.0
  image[:, :, 2:, 1] = 1.0
  mask = np.zeros([1, 4, 4, 1], np.float32)
  mask[:, :, :2] = 1.0
  mask[0, 0, 2] = 1.0
  m = tf.Variable(mask)
  with tf.GradientTape() as tape:
    loss = losses.colour_model_loss(m, tf.constant(image))
  grad = tape.gradient(loss, m).numpy()[0, ..., 0]
  assert grad[0, 2] > 0  # gradient descent lowers it
  assert (grad[:, :2] <= 0).all()


def test_quantile_loss_by_hand():
  fake = tf.constant([[[0.1], [0.9]], [[0.5], [0.3]]])
  real = tf.constant([[[0.2], [0.2]], [[0.8], [0.4]]])
  # sorted 0.1 0.3 0.5 0.9 against 0.2 0.2 0.4 0.8: every pair 0.1 apart
  assert float(losses.quantile_loss(fake, real)) == pytest.approx(0.1)
  assert float(losses.quantile_loss(real[::-1], real)) == 0.0  # order within the batch is free
  # Equal means, different modes: a uniform grey against half black, half white.
  grey, mixed = tf.fill([2, 4, 3], 0.5), tf.constant([0.0, 1.0] * 12, shape=[2, 4, 3])
  assert float(losses.quantile_loss(grey, mixed)) == pytest.approx(0.5)
  # channels are sorted separately
  a = tf.constant([[[0.0, 1.0], [1.0, 0.0]]])
  assert float(losses.quantile_loss(a, a[:, ::-1])) == 0.0


def test_info_loss():
  assert float(losses.info_loss([[1.0, -1.0]], [[0.0, 1.0]])) == pytest.approx(0.5 * 2.5)


def test_smooth_l1_values_and_seam():
  x = tf.constant([0.0, 0.1, -0.2, 0.25, -0.25, 0.5, -2.0])
  np.testing.assert_allclose(losses.smooth_l1(x).numpy(),
                             [0.0, 0.04, 0.16, 0.25, 0.25, 0.5, 2.0], rtol=1e-6)
  # Continuous at the seam |x| = 0.25: both pieces give 0.25.
  eps = 1e-4
  lo, hi = losses.smooth_l1(tf.constant([0.25 - eps, 0.25 + eps])).numpy()
  assert abs(lo - hi) < 1e-3


def test_distillation_loss():
  s = tf.constant([0.9, 0.0, 0.6])
  t = tf.constant([1.0, 1.0, 0.6])
  assert float(losses.distillation_loss(s, t)) == pytest.approx((4 * 0.01 + 1.0 + 0.0) / 3, rel=1e-5)


def test_weighted_distillation_loss_is_the_weighted_mean():
  s = tf.constant([0.9, 0.0, 0.6, 0.0])
  t = tf.constant([1.0, 1.0, 0.6, 1.0])
  w = tf.constant([1.0, 0.0, 1.0, 0.5])
  # smooth_l1: 4 d^2 below 0.25, |d| above: 0.04, (1.0, left out), 0, 1.0 at weight 0.5
  assert float(losses.distillation_loss(s, t, w)) == pytest.approx((0.04 + 0.5) / 2.5, rel=1e-5)
  assert float(losses.distillation_loss(s, t, tf.ones([4]))) == pytest.approx(
      float(losses.distillation_loss(s, t)), rel=1e-6)
