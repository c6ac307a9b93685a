"""The floor under the recipe (floor.py): the colour fit of a mask, the per-image choice
between the recipe's mask and GrabCut from the box, and the floor as the stage's last step."""
import dataclasses

import numpy as np
import pytest

from ind_prior_tf.postprocess import floor
from ind_prior_tf.postprocess import stage as postprocess

S = 32


def disk_scene(seed=0):
  """A red disk on a green ground with a little noise, and the disk's mask."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:S, :S]
  disk = (yy - 16) ** 2 + (xx - 16) ** 2 < 9 ** 2
  # Each colour with its noise stays within one of floor.BINS cells per channel.
  crop = np.where(disk[..., None], [208, 48, 48], [48, 176, 48]) + rng.integers(-10, 10, (S, S, 3))
  return np.clip(crop, 0, 255).astype(np.uint8), disk.astype(np.float32)[..., None]


def test_colour_fit_is_one_where_colour_draws_the_mask_and_zero_for_no_line():
  crop, disk = disk_scene()
  left = np.zeros_like(disk)
  left[:, :12] = 1.0  # across the colours: a little of the red disk, mostly green ground
  fit = floor.colour_fit(np.stack([crop] * 4), np.stack([disk, left, disk * 0, disk * 0 + 1]))
  assert fit[0] == 1.0
  # Green is the likelier inside the left strip (most of it) than outside (the disk's red is most
  # of it there), red the likelier outside: the strip is redrawn as the ground around the disk.
  redrawn, strip = disk[..., 0] < 0.5, left[..., 0] >= 0.5
  assert fit[1] == pytest.approx((redrawn & strip).sum() / (redrawn | strip).sum())
  assert 0.2 < fit[1] < 0.6
  assert fit[2] == fit[3] == 0.0
  # Float crops in [0, 1] read as the uint8 ones.
  np.testing.assert_array_equal(floor.colour_fit((crop / 255.0)[None], disk[None]), fit[:1])


def test_agreement_is_the_iou_and_one_for_two_empty_masks():
  a = np.zeros((3, 4, 4, 1), np.float32)
  b = a.copy()
  a[0, :2], b[0, 1:3] = 1, 1  # 8 and 8 pixels sharing 4: 4 / 12
  a[1] = b[1] = 0.7
  np.testing.assert_allclose(floor.agreement(a, b), [1 / 3, 1.0, 1.0])


def test_choose_keeps_the_mask_only_where_it_fits_better_and_agrees():
  crop, disk = disk_scene()
  empty = np.zeros_like(disk)  # a recipe that lost the object
  ring = disk.copy()
  ring[12:20, 12:20] = 0.0  # a disk with a hole: its colours redraw it as the disk (fit 190/254)
  crops = np.stack([crop] * 3)
  recipe = np.stack([empty, ring, disk])
  cut = np.stack([disk, disk, disk * 0])  # the last: GrabCut found nothing
  fits = floor.colour_fit(crops, recipe)
  assert fits[1] == pytest.approx((ring >= 0.5).sum() / (disk >= 0.5).sum())
  masks, took = floor.choose(crops, recipe, cut, margin=-0.5, min_agreement=0.0)
  assert took.tolist() == [True, False, False]  # a margin of -0.5 keeps a mask that fits half-way
  masks, took = floor.choose(crops, recipe, cut, margin=0.0, min_agreement=0.0)
  assert took.tolist() == [True, True, False]
  np.testing.assert_array_equal(masks[1], disk)
  np.testing.assert_array_equal(masks[2], disk)  # an empty cut is no floor: the mask stays
  # Agreement alone: the ring overlaps the disk enough, the shifted disk does not.
  same_fit = np.stack([disk, disk])
  near = np.roll(disk, 2, axis=1)
  far = np.roll(disk, 12, axis=1)
  took = floor.choose(np.stack([crop, crop]), np.stack([near, far]), same_fit, margin=-1.0,
                      min_agreement=0.5)[1]
  assert took.tolist() == [False, True]


def test_the_set_trust_is_the_running_median_gap_of_crops_whose_cut_draws_a_line():
  seen = floor.SetTrust()
  assert seen.median_gap is None and not seen.known(-1.0)
  seen.add([0.9, 0.5, 0.7], [0.8, 0.0, 0.9])  # the second cut drew no line: not counted
  assert seen.median_gap == pytest.approx(-0.05)  # gaps 0.1 and -0.2
  assert seen.known(-0.06) and not seen.known(-0.04)
  seen.add([0.8, 0.95], [0.7, 0.9])  # gaps 0.1, 0.05 join: -0.2, 0.05, 0.1, 0.1
  assert seen.median_gap == pytest.approx(0.075) and seen.known(0.0) and seen.known()
  assert floor.TRUST == floor.MARGIN  # known: the typical crop passes the per-crop test


def test_on_a_known_set_the_cut_takes_only_a_mask_that_disagrees_and_fits_worse():
  crop, disk = disk_scene()
  ring = disk.copy()
  ring[12:20, 12:20] = 0.0  # agrees with the disk (IoU 190/254) but fits worse than it
  half = disk.copy()
  half[:, 16:] = 0.0  # half the disk: IoU under 0.6 with it, and fits worse
  crops, recipe, cut = np.stack([crop] * 2), np.stack([ring, half]), np.stack([disk, disk])
  assert (floor.colour_fit(crops, recipe) < floor.colour_fit(crops, cut)).all()
  # These crops alone: the masks fit worse than the cuts, the set is not known, both are replaced.
  seen = floor.SetTrust()
  took = floor.choose(crops, recipe, cut, min_agreement=0.6, seen=seen)[1]
  assert took.tolist() == [True, True] and seen.median_gap < 0
  # In a set whose earlier crops the network's masks fitted better: only the half disk is replaced.
  seen = floor.SetTrust()
  seen.add([0.9] * 5, [0.8] * 5)
  masks, took = floor.choose(crops, recipe, cut, min_agreement=0.6, seen=seen)
  assert took.tolist() == [False, True] and seen.known()
  np.testing.assert_array_equal(masks[0], ring)
  np.testing.assert_array_equal(masks[1], disk)
  # --floor_trust=1 never trusts a set: the per-crop rule alone.
  assert floor.choose(crops, recipe, cut, min_agreement=0.6, trust=1.0, seen=seen)[1].all()


def photo_scene():
  """A 96 x 128 photo: a red disk on a green ground (noisy), the box around the disk with room to
  spare, and the disk's mask within the box at 32 px."""
  rng = np.random.default_rng(1)
  yy, xx = np.mgrid[:96, :128]
  disk = (yy - 48) ** 2 + (xx - 60) ** 2 < 16 ** 2
  photo = np.where(disk[..., None], [200, 40, 40], [40, 160, 40]) + rng.integers(-12, 12,
                                                                                 (96, 128, 3))
  region = (36, 24, 84, 72)  # x0, y0, x1, y1
  crop = np.clip(photo, 0, 255).astype(np.uint8)[24:72, 36:84]
  from PIL import Image  # pylint: disable=g-import-not-at-top
  small = lambda a, mode: np.asarray(Image.fromarray(a, mode).resize((S, S), Image.BILINEAR))
  truth = small(disk[24:72, 36:84].astype(np.float32), "F")[..., None] >= 0.5
  return np.clip(photo, 0, 255).astype(np.uint8), region, small(crop, "RGB"), truth


def test_the_box_cut_is_grabcut_from_the_box_at_the_crops_size():
  photo, region, _, truth = photo_scene()
  cut = floor.box_cuts([(photo, region)] * 2, S)
  assert cut.shape == (2, S, S, 1) and cut.dtype == np.float32
  inter = ((cut[0] >= 0.5) & truth).sum()
  assert inter / ((cut[0] >= 0.5) | truth).sum() > 0.9


def test_the_stage_with_the_floor_replaces_a_lost_mask_and_keeps_a_good_one():
  photo, region, crop, truth = photo_scene()
  crops = np.stack([crop, crop]) / np.float32(255.0)
  network = np.stack([np.zeros_like(truth, np.float32), truth.astype(np.float32)])
  post = postprocess.PostConfig(grabcut_floor=True)
  assert post.needs_photos and post.needs_opencv and post.after_network
  net, final, took = postprocess.stage(post, lambda x: network, crops, [(photo, region)] * 2)
  np.testing.assert_array_equal(net, network)
  cut = floor.box_cuts([(photo, region)], S)[0]
  assert took[0]  # the lost mask
  np.testing.assert_array_equal(final[0], cut)
  # The true mask fits no better than GrabCut's near-perfect cut: which of the two is taken is the
  # margin's call, and the stage does what choose says.
  np.testing.assert_array_equal(final[1], cut if took[1] else network[1])
  trusting = dataclasses.replace(post, floor_margin=-0.5)
  _, final, took = postprocess.stage(trusting, lambda x: network, crops, [(photo, region)] * 2)
  assert took.tolist() == [True, False]
  np.testing.assert_array_equal(final[1], network[1])
  # Without the floor, the lost mask stays lost.
  _, plain, took = postprocess.stage(postprocess.PostConfig(), lambda x: network, crops)
  assert plain[0].max() == 0 and not took.any()


def test_on_a_grey_photo_the_stage_keeps_the_networks_mask():
  photo, region, crop, truth = photo_scene()
  grey_photo = np.repeat(photo.mean(-1, keepdims=True).round().astype(np.uint8), 3, axis=-1)
  grey_crop = np.repeat(crop.mean(-1, keepdims=True), 3, axis=-1) / np.float32(255.0)
  crops = np.stack([crop / np.float32(255.0), grey_crop])
  assert postprocess.is_grey(crops).tolist() == [False, True]
  # A little chroma noise, as a JPEG leaves in a grey photo, is still grey.
  assert postprocess.is_grey(np.clip(grey_crop + 2 / 255, 0, 1)[None] * [1, 1, 0.995]).all()
  lost = np.zeros((2,) + truth.shape, np.float32)  # the floor replaces a lost mask ...
  photos = [(photo, region), (grey_photo, region)]
  post = postprocess.PostConfig(grabcut_floor=True, grey_network=True)
  _, final, took = postprocess.stage(post, lambda x: lost, crops, photos)
  assert took.tolist() == [True, False]  # ... but not on the grey photo
  assert final[0].max() == 1 and final[1].max() == 0
  assert lost.max() == 0  # the network's masks are not written into
  seen = floor.SetTrust()  # a grey photo does not count in the floor's judgement of the set
  postprocess.stage(post, lambda x: lost[1:], crops[1:], photos[1:], seen)
  assert seen.median_gap is None
  _, final, took = postprocess.stage(dataclasses.replace(post, grey_network=False),
                                     lambda x: lost, crops, photos)
  assert took.tolist() == [True, True]
  assert "on grey photos the network's mask" in post.describe() and post.tag().endswith("-grey")
  assert "grey" not in postprocess.PostConfig(grey_network=True).tag()  # no colour step to skip


def test_a_recipe_without_the_floor_reads_and_writes_as_before_it():
  plain = postprocess.PostConfig(grabcut_iters=3)
  assert not [k for k in plain.to_dict() if "floor" in k or "grey" in k]
  old = dict(plain.to_dict())  # a postprocess.json written before the floor existed
  assert postprocess.from_dict(old, "old.json") == plain and not plain.grabcut_floor
  on = dataclasses.replace(plain, grabcut_floor=True, floor_margin=0.05, floor_agreement=0.3)
  assert postprocess.from_dict(on.to_dict(), "new.json") == on
  # A floor written before the set's trust existed runs as it was scored: the per-crop rule alone.
  before_trust = {k: v for k, v in on.to_dict().items() if k != "floor_trust"}
  assert postprocess.from_dict(before_trust, "old.json") == dataclasses.replace(on, floor_trust=1.0)
  assert on.tag().endswith("-floor0.05a0.3t0.02") and plain.tag() == "gc3"
