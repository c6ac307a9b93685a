"""The guided filter that smooths a segmenter's masks along the crop's edges
(ind_prior_tf/postprocess/guided_filter.py)."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

# pylint: disable=g-import-not-at-top
from ind_prior_tf.postprocess import guided_filter as guided

S = 48


def step_guide(column):
  """An RGB guide, dark left of `column` and light from it on, with a little noise."""
  rng = np.random.default_rng(0)
  guide = np.full((S, S, 3), 0.2, np.float32)
  guide[:, column:] = (0.8, 0.7, 0.6)
  return np.clip(guide + rng.normal(0, 0.01, guide.shape), 0, 1).astype(np.float32)


def test_a_constant_mask_and_radius_zero_come_back_as_they_are():
  guide = np.random.default_rng(1).random((S, S, 3)).astype(np.float32)
  flat = np.full((S, S, 1), 0.7, np.float32)
  out = guided.guided_filter(guide, flat, radius=4)
  assert out.shape == flat.shape and out.dtype == np.float32
  np.testing.assert_allclose(out, flat, atol=1e-4)
  soft = np.random.default_rng(2).random((S, S)).astype(np.float32)
  np.testing.assert_array_equal(guided.guided_filter(guide, soft, radius=0), soft)


def test_a_huge_ridge_is_the_box_filter_twice():
  # With eps >> the guide's variance the fitted slopes vanish: each window's fit is its mean mask,
  # and each pixel averages those means (a box filter of a box filter).
  guide = step_guide(20)
  mask = np.random.default_rng(3).random((S, S)).astype(np.float32)
  box = lambda a: cv2.boxFilter(a, -1, (5, 5), borderType=cv2.BORDER_REFLECT)
  np.testing.assert_allclose(guided.guided_filter(guide, mask, 2, eps=1e6), box(box(mask)),
                             atol=1e-4)


def test_a_blurred_edge_a_few_pixels_off_snaps_onto_the_guides():
  guide = step_guide(24)  # the object: columns 24 on
  for centre in (22, 24, 25):  # the 0.5 level 1 or 2 columns off on either side
    ramp = np.clip((np.arange(S) - centre + 4.5) / 9.0, 0, 1)  # 0 to 1 across 9 columns
    soft = np.tile(ramp, (S, 1)).astype(np.float32)
    assert ((soft > 0.5).sum(axis=1) != S - 24).all()  # its 0.5 edge is off the guide's
    out = guided.guided_filter(guide, soft, radius=4)
    np.testing.assert_array_equal((out > 0.5).sum(axis=1), S - 24)
    assert (out[:, 24] - out[:, 23] > 0.4).all()  # a jump at the guide's edge, not a ramp
  # Without an edge in the guide there is nothing to snap to: the mask is only blurred.
  out = guided.guided_filter(np.full((S, S, 3), 0.5, np.float32), soft, radius=4)
  np.testing.assert_array_equal((out > 0.5).sum(axis=1), (soft > 0.5).sum(axis=1))
  assert np.abs(np.diff(out, axis=1)).max() < np.abs(np.diff(soft, axis=1)).max()


def test_a_batch_is_filtered_one_mask_at_a_time_and_bad_settings_are_refused():
  rng = np.random.default_rng(4)
  guides = rng.random((3, S, S, 3)).astype(np.float32)
  masks = rng.random((3, S, S, 1)).astype(np.float32)
  batch = guided.guided_filter_batch(guides, masks, 3)
  for g, m, b in zip(guides, masks, batch):
    np.testing.assert_array_equal(b, guided.guided_filter(g, m, 3))
  assert 0.0 <= batch.min() and batch.max() <= 1.0
  for radius, eps in ((-1, 1e-4), (2, 0.0)):
    with pytest.raises(ValueError, match="radius"):
      guided.guided_filter(guides[0], masks[0], radius, eps)
