"""The floor under the recipe (floor.py): colour separability of a mask, the per-image choice
between the recipe's mask and GrabCut from the box, and the floor as the stage's last step."""
import dataclasses

import numpy as np

from ind_prior_tf import floor, postprocess

S = 32


def disk_scene(seed=0):
  """A red disk on a green ground with a little noise, and the disk's mask."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:S, :S]
  disk = (yy - 16) ** 2 + (xx - 16) ** 2 < 9 ** 2
  crop = np.where(disk[..., None], [200, 40, 40], [40, 160, 40]) + rng.integers(-10, 10, (S, S, 3))
  return np.clip(crop, 0, 255).astype(np.uint8), disk.astype(np.float32)[..., None]


def test_separability_is_one_where_colour_draws_the_mask_and_a_half_for_nothing():
  crop, disk = disk_scene()
  left = np.zeros_like(disk)
  left[:, :S // 2] = 1.0
  sep = floor.separability(np.stack([crop] * 4), np.stack([disk, left, disk * 0, disk * 0 + 1]))
  assert sep[0] == 1.0
  assert 0.5 < sep[1] < 0.9  # a mask across the colours: colour explains part of it
  assert sep[2] == sep[3] == 0.5
  # Float crops in [0, 1] read as the uint8 ones.
  np.testing.assert_array_equal(floor.separability((crop / 255.0)[None], disk[None]), sep[:1])


def test_choose_takes_the_box_cut_only_where_its_colours_agree_better_by_the_margin():
  crop, disk = disk_scene()
  empty = np.zeros_like(disk)  # a recipe that lost the object
  close = disk.copy()
  close[14:18, 4:9] = 0.0  # a recipe whose edge is off by a few pixels
  crops, recipe = np.stack([crop, crop]), np.stack([empty, close])
  cut = np.stack([disk, disk])
  masks, took = floor.choose(crops, recipe, cut, margin=0.05)
  assert took.tolist() == [True, False]
  np.testing.assert_array_equal(masks[0], disk)
  np.testing.assert_array_equal(masks[1], close)
  assert floor.choose(crops, recipe, cut, margin=0.6)[1].tolist() == [False, False]


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
  post = postprocess.PostConfig(grabcut_floor=True, floor_margin=0.01)
  assert post.needs_photos and post.needs_opencv and post.after_network
  net, final, took = postprocess.stage(post, lambda x: network, crops, [(photo, region)] * 2)
  np.testing.assert_array_equal(net, network)
  assert took.tolist() == [True, False]
  np.testing.assert_array_equal(final[0], floor.box_cuts([(photo, region)], S)[0])
  np.testing.assert_array_equal(final[1], network[1])
  # Without the floor, the lost mask stays lost.
  _, plain, took = postprocess.stage(postprocess.PostConfig(), lambda x: network, crops)
  assert plain[0].max() == 0 and not took.any()


def test_a_recipe_without_the_floor_reads_and_writes_as_before_it():
  plain = postprocess.PostConfig(grabcut_iters=3)
  assert "grabcut_floor" not in plain.to_dict() and "floor_margin" not in plain.to_dict()
  old = dict(plain.to_dict())  # a postprocess.json written before the floor existed
  assert postprocess.from_dict(old, "old.json") == plain and not plain.grabcut_floor
  on = dataclasses.replace(plain, grabcut_floor=True, floor_margin=0.02)
  assert postprocess.from_dict(on.to_dict(), "new.json") == on
  assert on.tag().endswith("-floor0.02") and plain.tag() == "gc3"
