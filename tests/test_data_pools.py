"""ind_prior_tf.data.pools: background pools, HOC patches and disk backgrounds."""

import os
import zipfile

import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.data import images, pools, raw
from ind_prior_tf.errors import DataError
from tests.data_fixtures import make_cub, make_inria, save


def test_background_patches(tmp_path):
  folder = tmp_path / "bg"
  rng = np.random.default_rng(0)
  for i in range(3):
    save(str(folder / f"{i}.png"), rng.integers(0, 256, (20 + 5 * i, 30, 3),
                                                 dtype=np.uint8))
  save(str(folder / "gray.jpg"), np.full((25, 25), 77, np.uint8))
  (folder / "broken.jpg").write_bytes(b"not an image")
  paths = images.list_images(folder)
  a = pools.background_patches(paths, 12, 40, seed=3)
  assert a.shape == (40, 12, 12, 3) and a.dtype == np.uint8
  assert np.array_equal(a, pools.background_patches(paths, 12, 40, seed=3))
  assert not np.array_equal(a, pools.background_patches(paths, 12, 40, seed=4))
  assert len({p.tobytes() for p in a}) > 30
  # Full-scale crops of a constant image are that constant.
  g = pools.background_patches([str(folder / "gray.jpg")], 8, 3, seed=0,
                           min_scale=1.0)
  assert np.abs(g.astype(int) - 77).max() <= 2
  with pytest.raises(DataError, match="no readable images"):
    pools.background_patches([str(folder / "broken.jpg")], 8, 3, seed=0)
  with pytest.raises(DataError, match="no image paths"):
    pools.background_patches([], 8, 3, seed=0)


def test_inria_negatives_reads_the_archive_layout(tmp_path, caplog):
  negs = make_inria(str(tmp_path / "INRIAPerson"))
  # The INRIAPerson folder, or the folder the archive was extracted into.
  assert pools.inria_negatives(tmp_path / "INRIAPerson") == negs
  assert pools.inria_negatives(tmp_path) == negs
  assert not any("pos" in p.split(os.sep)[-2] for p in negs)
  for p in negs:  # every format decodes, as the pool reads it
    if not p.endswith("broken.png"):
      assert images.load_image_rgb(p).shape[2] == 3
  with caplog.at_level("WARNING"):
    a = pools.background_patches(pools.inria_negatives(tmp_path), 12, 60, seed=2)
  assert a.shape == (60, 12, 12, 3)
  assert "skipped 1 of 8 background images: 1 unreadable" in caplog.text
  # No positive was read: no patch is red like a person.
  assert a[..., 0].reshape(60, -1).mean(axis=1).max() < 120
  # Either split alone is enough.
  only_test = tmp_path / "only_test"
  os.makedirs(only_test / "Test" / "neg")
  os.rename(tmp_path / "INRIAPerson" / "Test" / "neg" / "f.gif", only_test / "Test" / "neg" / "f.gif")
  assert pools.inria_negatives(only_test) == [str(only_test / "Test" / "neg" / "f.gif")]
  with pytest.raises(DataError, match="missing INRIA Person root"):
    pools.inria_negatives(tmp_path / "nowhere")
  (tmp_path / "other" / "Train" / "pos").mkdir(parents=True)
  with pytest.raises(DataError, match="not the INRIA Person layout"):
    pools.inria_negatives(tmp_path / "other")
  (tmp_path / "other" / "Train" / "neg").mkdir()
  with pytest.raises(DataError, match="no images in"):
    pools.inria_negatives(tmp_path / "other")


def test_write_background_pool_sources(tmp_path):
  make_inria(str(tmp_path / "INRIAPerson"))
  out = str(tmp_path / "pool.npz")
  patches, what = pools.write_background_pool(out, 8, 10, 1, inria_root=str(tmp_path))
  assert what == f"8 INRIA Person negatives in {tmp_path}"
  assert np.array_equal(pools.load_pool(out), patches)
  assert np.array_equal(patches, pools.background_patches(pools.inria_negatives(tmp_path), 8, 10,
                                                          seed=1))
  folder = str(tmp_path / "INRIAPerson" / "Test" / "neg")
  patches, what = pools.write_background_pool(out, 8, 10, 1, image_dir=folder)
  assert what == f"2 images in {folder}"
  with pytest.raises(DataError, match="give one of image_dir, inria_root, cub_root"):
    pools.write_background_pool(out, 8, 10, 1, image_dir=folder, inria_root=str(tmp_path))
  with pytest.raises(DataError, match=r"\(got none\)"):
    pools.write_background_pool(out, 8, 10, 1)


def test_outside_box_patches(tmp_path):
  # Green everywhere outside the red box; patches must contain no red.
  root = make_cub(tmp_path / "cub")
  recs = [r for r in raw.read_cub(root) if r.id in (1, 3, 6, 9)]
  a = pools.outside_box_patches(recs, 8, 30, seed=0)
  assert a.shape == (30, 8, 8, 3) and a.dtype == np.uint8
  assert np.array_equal(a, pools.outside_box_patches(recs, 8, 30, seed=0))
  red = (a[..., 0] > 150) & (a[..., 1] < 100)
  assert not red.any()
  # A box covering the whole image leaves nothing.
  whole = raw.Record(id=1, image_path=recs[0].image_path, box=(0, 0, 40, 30),
                   is_train=True)
  with pytest.raises(DataError, match="no image has a background region"):
    pools.outside_box_patches([whole], 8, 5, seed=0)


def test_outside_box_patches_max_zoom_keeps_patches_at_the_crops_scale(tmp_path):
  # Red encodes x (red = 2x): a patch's red span measures the width of its source window.
  ramp = np.zeros((60, 100, 3), np.uint8)
  ramp[..., 0] = 2 * np.arange(100)[None, :]
  Image.fromarray(ramp).save(tmp_path / "ramp.png")
  path = str(tmp_path / "ramp.png")
  wide = raw.Record(id=1, image_path=path, box=(0, 0, 40, 60), is_train=True)  # 60 px strip
  thin = raw.Record(id=2, image_path=path, box=(10, 0, 80, 60), is_train=True)  # 10 px strips

  def spans(patches):
    red = patches[..., 0].astype(int)
    return red.max(axis=(1, 2)) - red.min(axis=(1, 2))

  free = pools.outside_box_patches([wide], 8, 30, seed=0)
  assert spans(free).min() < 20  # sides from size/4 = 2 px: magnified up to 4x the crop's scale
  # max_zoom=2: sides >= 60 / 2 = 30 px (the box's long side / zoom): every span >= ~2 * 30 * 7/8.
  zoomed = pools.outside_box_patches([wide, thin], 8, 30, seed=0, max_zoom=2)
  assert spans(zoomed).min() >= 45
  # The thin image cannot give a 40 px patch at zoom <= 2 (80 / 2 = 40 > 10): skipped; alone, an error.
  with pytest.raises(DataError, match=r"max_zoom 2"):
    pools.outside_box_patches([thin], 8, 5, seed=0, max_zoom=2)
  with pytest.raises(DataError, match="max_zoom=0"):
    pools.outside_box_patches([wide], 8, 5, seed=0, max_zoom=0)


def test_pool_save_load(tmp_path):
  p = str(tmp_path / "pool.npz")
  patches = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
  pools.save_pool(p, patches)
  assert os.listdir(tmp_path) == ["pool.npz"]
  assert np.array_equal(pools.load_pool(p), patches)
  with pytest.raises(DataError, match="missing patch pool"):
    pools.load_pool(str(tmp_path / "nope.npz"))
  (tmp_path / "bad.npz").write_bytes(b"garbage")
  with pytest.raises(DataError, match="bad.npz: corrupt patch pool"):
    pools.load_pool(str(tmp_path / "bad.npz"))
  np.savez_compressed(tmp_path / "other.npz", x=patches)
  with pytest.raises(DataError, match="no `patches` array"):
    pools.load_pool(str(tmp_path / "other.npz"))
  np.savez_compressed(tmp_path / "shape.npz", patches=patches[..., 0])
  with pytest.raises(DataError, match=r"expected uint8 \[N,S,S,3\]"):
    pools.load_pool(str(tmp_path / "shape.npz"))
  with zipfile.ZipFile(tmp_path / "trunc.npz", "w") as z:
    z.writestr("patches.npy", b"\x93NUMPY")
  with pytest.raises(DataError, match="corrupt patch pool"):
    pools.load_pool(str(tmp_path / "trunc.npz"))
  with pytest.raises(DataError, match="must be uint8"):
    pools.save_pool(p, patches.astype(np.float32))


# HOC patches.


def test_extract_patches_count_and_content():
  image = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3) % 251
  image = image.astype(np.uint8)
  # Rows: 0,4,8 + border 10 -> 4; cols: 0,4,...,20 (6) -> 6 (exact fit).
  p = pools.extract_patches(image, 10, 4, out_size=10)
  assert p.shape == (24, 10, 10, 3) and p.dtype == np.uint8
  assert np.array_equal(p[0], image[0:10, 0:10])
  assert np.array_equal(p[5], image[0:10, 20:30])
  assert np.array_equal(p[6], image[4:14, 0:10])
  assert np.array_equal(p[-1], image[10:20, 20:30])  # Border-aligned row.
  assert pools.extract_patches(image, 10, 10, out_size=10).shape[0] == 2 * 3
  assert pools.extract_patches(image, 20, 7, out_size=5).shape == (3, 5, 5, 3)


def test_extract_patches_flips():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
  base = pools.extract_patches(image, 8, 4, out_size=8)
  assert base.shape[0] == 9
  h = pools.extract_patches(image, 8, 4, out_size=8, hflip=True)
  assert h.shape[0] == 18
  assert np.array_equal(h[:9], base) and np.array_equal(h[9:], base[:, :, ::-1])
  v = pools.extract_patches(image, 8, 4, out_size=8, vflip=True)
  assert v.shape[0] == 18 and np.array_equal(v[9:], base[:, ::-1])
  hv = pools.extract_patches(image, 8, 4, out_size=8, hflip=True, vflip=True)
  assert hv.shape[0] == 36
  assert np.array_equal(hv[27:], base[:, ::-1, ::-1])
  assert not np.array_equal(hv[9:18], base)


def test_extract_patches_gray_resize_and_errors():
  gray = np.tile(np.arange(24, dtype=np.uint8)[None, :] * 10, (24, 1))
  p = pools.extract_patches(gray, 12, 6, out_size=64)
  assert p.shape == (9, 64, 64, 3)
  assert np.array_equal(p[..., 0], p[..., 2])
  with pytest.raises(DataError, match=r"--window=3: must be at least 4"):
    pools.extract_patches(gray, 3, 1)
  with pytest.raises(DataError, match=r"--stride=0"):
    pools.extract_patches(gray, 8, 0)
  with pytest.raises(DataError, match=r"--window=30: larger than the image "
                     r"\(24x24"):
    pools.extract_patches(gray, 30, 4)


def test_disk_backgrounds():
  patches = np.full((2, 64, 64, 3), 200, np.uint8)
  patches[1] = 50
  bg = pools.disk_backgrounds(patches, radius=20)
  assert bg.shape == patches.shape and bg.dtype == np.uint8
  yy, xx = np.mgrid[0:64, 0:64]
  d2 = (yy - 31.5) ** 2 + (xx - 31.5) ** 2
  assert (bg[:, d2 <= 400] == 0).all()
  assert np.array_equal(bg[:, d2 > 400], patches[:, d2 > 400])
  assert bg[0, 31, 31, 0] == 0 and bg[0, 31, 9, 0] == 200  # 22.5 px away.
  assert (patches == 200).sum() == 64 * 64 * 3  # Input untouched.
  assert (pools.disk_backgrounds(patches, radius=None) == 0).all()
  assert (pools.disk_backgrounds(patches, mode="black") == 0).all()


def test_median_disk_backgrounds_fill_the_disk_with_the_ring_median():
  rng = np.random.default_rng(0)
  patches = rng.integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
  yy, xx = np.mgrid[0:32, 0:32]
  inside = (yy - 15.5) ** 2 + (xx - 15.5) ** 2 <= 10 ** 2
  patches[:, inside] = 255  # a bright object in the disk must not colour its fill
  bg = pools.disk_backgrounds(patches, radius=10, mode="median_disk")
  assert bg.dtype == np.uint8
  assert np.array_equal(bg[:, ~inside], patches[:, ~inside])
  for i in range(3):
    expected = np.median(patches[i][~inside], axis=0).astype(np.uint8)
    assert (bg[i][inside] == expected).all() and (expected < 200).all()
  with pytest.raises(DataError, match="median_disk"):
    pools.disk_backgrounds(patches, mode="grey")


def test_ground_backgrounds_fill_the_whole_patch_with_its_median():
  patches = np.zeros((2, 8, 8, 3), np.uint8)
  patches[0, :5] = (40, 50, 60)   # the ground: 40 of 64 pixels
  patches[0, 5:] = 250            # an object
  patches[1] = 7
  bg = pools.disk_backgrounds(patches, radius=3, mode="ground")
  assert bg.dtype == np.uint8 and bg.shape == patches.shape
  assert (bg[0] == (40, 50, 60)).all() and (bg[1] == 7).all()
  assert patches[0, 5:].min() == 250  # the patches are not touched
