"""The dense CRF over a crop's colours that runs on a segmenter's masks
(ind_prior_tf/postprocess/colour_crf.py): its mean field against a hand-computed one and a brute-force one."""
import math

import numpy as np
import pytest

from ind_prior_tf.postprocess import colour_crf

S = 16
RED, GREEN = (0.9, 0.1, 0.1), (0.1, 0.8, 0.2)


def sigmoid(z):
  return 1.0 / (1.0 + math.exp(-z))


def two_colours(rng, noise=0.0):
  """Left half red, right half green, optionally with colour noise."""
  image = np.empty((S, S, 3), np.float32)
  image[:, :S // 2], image[:, S // 2:] = RED, GREEN
  return np.clip(image + rng.normal(0, noise, image.shape), 0, 1).astype(np.float32)


def test_one_colour_everywhere_is_the_hand_computed_mean_field():
  # All pixels share one colour, so the kernel is constant: with the symmetric normalisation each
  # message is the mean foreground and the two add up to 1. A step is then, per pixel,
  # q <- sigmoid(logit(q0) + w (2 mean(q) - 1)).
  image = np.full((S, S, 3), 0.4, np.float32)
  mask = np.full((S, S, 1), 0.3, np.float32)
  mask[:, :4] = 0.8
  w, q0 = 2.0, {0.3: 0.3, 0.8: 0.8}
  q = dict(q0)
  for _ in range(3):
    mean = (12 * q[0.3] + 4 * q[0.8]) / 16
    q = {v: sigmoid(math.log(v / (1 - v)) + w * (2 * mean - 1)) for v in q0}
  out = colour_crf.colour_crf(image, mask, w, iters=3)
  assert out.shape == mask.shape and out.dtype == np.float32
  np.testing.assert_allclose(out[:, 4:], q[0.3], atol=1e-5)
  np.testing.assert_allclose(out[:, :4], q[0.8], atol=1e-5)
  assert q[0.3] < 0.3 and q[0.8] < 0.8  # the majority's background pulls both down


def brute_force(image, mask, weight, sigma, iters):
  """The mean field with the Gaussian colour kernel as a full matrix."""
  c = image.reshape(-1, 3).astype(np.float64) * 255.0
  d = c[:, None, :] - c[None, :, :]
  k = np.exp(-(d ** 2).sum(-1) / (2 * sigma ** 2))
  norm = 1 / np.sqrt(k.sum(1))
  q = np.clip(mask.reshape(-1).astype(np.float64), 1e-4, 1 - 1e-4)
  logit, fg = np.log(q / (1 - q)), q
  for _ in range(iters):
    m1 = norm * (k @ (norm * fg))
    m0 = norm * (k @ (norm * (1 - fg)))
    fg = 1 / (1 + np.exp(-(logit + weight * (m1 - m0))))
  return fg.reshape(mask.shape)


def test_colours_on_the_grid_give_the_brute_force_mean_field():
  # On the grid's nodes the trilinear splat and slice are exact and the blur is the Gaussian itself
  # (cut at three sigma, where these colours never differ by more in any channel).
  rng = np.random.default_rng(0)
  sigma = 5.0
  image = (rng.integers(10, 13, (S, S, 3)) * sigma / 255.0).astype(np.float32)
  mask = rng.random((S, S, 1)).astype(np.float32)
  out = colour_crf.colour_crf(image, mask, 3.0, sigma=sigma, iters=4)
  np.testing.assert_allclose(out, brute_force(image, mask, 3.0, sigma, 4), atol=1e-4)
  assert np.abs(out - mask).max() > 0.1  # and it did move the mask


def test_pixels_of_a_far_colour_do_not_see_each_other():
  rng = np.random.default_rng(1)
  image = two_colours(rng, noise=0.01)
  mask = rng.random((S, S, 1)).astype(np.float32)
  other = mask.copy()
  other[:, :S // 2] = rng.random((S, S // 2, 1))  # the red half's mask changed
  a, b = (colour_crf.colour_crf(image, m, 5.0) for m in (mask, other))
  np.testing.assert_array_equal(a[:, S // 2:], b[:, S // 2:])
  assert not np.array_equal(a[:, :S // 2], b[:, :S // 2])


def test_unsure_pixels_join_their_colour_and_sure_ones_hold():
  rng = np.random.default_rng(2)
  image = two_colours(rng, noise=0.01)
  mask = np.where(np.arange(S)[None, :, None] < S // 2, 0.9, 0.1).repeat(S, 0).astype(np.float32)
  mask[3:6, 2:5] = 0.4  # an unsure patch of the red object
  mask[9:12, 10:13] = 0.6  # an unsure patch of the green ground
  mask[0, 12] = 0.9999  # a pixel the network is sure of, in the ground's colour
  out = colour_crf.colour_crf(image, mask, 5.0)
  assert (out[3:6, 2:5] > 0.5).all() and (out[9:12, 10:13] < 0.5).all()
  assert out[0, 12] > 0.5
  assert ((out > 0.5) == (mask > 0.5)).sum() == S * S - 9 - 9  # nothing else changed label


def test_a_batch_is_one_mask_at_a_time_and_bad_settings_are_refused():
  rng = np.random.default_rng(3)
  images = rng.random((3, S, S, 3)).astype(np.float32)
  masks = rng.random((3, S, S, 1)).astype(np.float32)
  out = colour_crf.colour_crf_batch(images, masks, 4.0, sigma=8.0, iters=3)
  assert out.shape == masks.shape and out.dtype == np.float32
  for i in range(3):
    np.testing.assert_array_equal(out[i], colour_crf.colour_crf(images[i], masks[i], 4.0, 8.0, 3))
  np.testing.assert_array_equal(colour_crf.colour_crf_batch(images, masks, 0.0), masks)
  np.testing.assert_array_equal(colour_crf.colour_crf(images[0], masks[0], 5.0, iters=0), masks[0])
  for bad in (dict(weight=-1.0), dict(weight=1.0, sigma=0.0), dict(weight=1.0, iters=-1)):
    with pytest.raises(ValueError):
      colour_crf.colour_crf_batch(images, masks, **bad)


def test_on_the_photo_the_colours_around_the_box_count_as_background():
  # A box of S x S pixels at (8, 8) of a blue photo; inside it a red object (mask 0.9) on green
  # ground (0.1) and an unsure blue patch (0.55). The crop alone shows the patch no other blue; on
  # the photo the blue around the box, held at colour_crf.OUTSIDE, takes the patch to background.
  rng = np.random.default_rng(5)
  photo = np.empty((S + 16, S + 16, 3), np.float32)
  photo[:] = (0.1, 0.2, 0.9)
  photo[8:8 + S, 8:8 + S] = two_colours(rng)
  photo[8 + 4:8 + 8, 8 + 10:8 + 14] = (0.1, 0.2, 0.9)
  photo = np.round(np.clip(photo + rng.normal(0, 0.01, photo.shape), 0, 1) * 255).astype(np.uint8)
  mask = np.where(np.arange(S)[None, :] < S // 2, 0.9, 0.1).repeat(S, 0).astype(np.float32)
  mask[4:8, 10:14] = 0.55
  box = (8, 8, 8 + S, 8 + S)
  crop = photo[8:8 + S, 8:8 + S] / np.float32(255.0)
  alone = colour_crf.colour_crf(crop, mask, 5.0)
  np.testing.assert_allclose(colour_crf.colour_crf_in_photo(photo, box, mask, 5.0, context=0),
                             alone, atol=1e-6)  # context 0: the crop alone
  assert (alone[4:8, 10:14] > 0.5).all()
  on_photo = colour_crf.colour_crf_in_photo(photo, box, mask[..., None], 5.0, context=0.5)
  assert on_photo.shape == (S, S, 1) and (on_photo[4:8, 10:14] < 0.5).all()
  assert ((on_photo[..., 0] > 0.5) == (mask > 0.5)).sum() == S * S - 16  # only the patch moved
