"""ind_prior_tf.data.images: decoding image and mask files; image folders."""

import os

import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.data import images
from ind_prior_tf.errors import DataError
from tests.data_fixtures import RED, make_cub, rect_image, save


def test_load_image_modes(tmp_path):
  root = make_cub(tmp_path / "cub")
  img = os.path.join(root, "images")
  for rel in ("001.A/rgb.jpg", "001.A/gray.jpg", "001.A/cmyk.jpg",
              "002.B/wide.png", "002.B/rgba.png"):
    a = images.load_image_rgb(os.path.join(img, rel))
    assert a.dtype == np.uint8 and a.shape == (30, 40, 3), rel
  gray = images.load_image_rgb(os.path.join(img, "001.A/gray.jpg"))
  assert np.array_equal(gray[..., 0], gray[..., 1])
  assert abs(int(gray[10, 12, 0]) - 200) < 8 and abs(int(gray[0, 0, 0]) - 50) < 8
  cmyk = images.load_image_rgb(os.path.join(img, "001.A/cmyk.jpg"))
  assert np.abs(cmyk[10, 12].astype(int) - RED).max() < 30
  wide = images.load_image_rgb(os.path.join(img, "002.B/wide.png"))
  assert wide[10, 12, 0] == 255 and wide[0, 0, 0] == 4  # 1000 / 257.
  rgba = images.load_image_rgb(os.path.join(img, "002.B/rgba.png"))
  assert tuple(rgba[10, 12]) == RED


def test_load_image_alpha_palette_la(tmp_path):
  a = np.zeros((4, 4, 4), np.uint8)
  a[..., :3] = 200
  a[..., 3] = 255
  a[0, 0, 3] = 0  # Transparent -> black.
  save(str(tmp_path / "a.png"), a)
  out = images.load_image_rgb(tmp_path / "a.png")
  assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (200, 200, 200)
  save(str(tmp_path / "p.png"),
        Image.fromarray(rect_image(8, 8, (2, 2, 4, 4))).convert(
            "P", palette=Image.Palette.ADAPTIVE))
  assert tuple(images.load_image_rgb(tmp_path / "p.png")[3, 3]) == RED
  save(str(tmp_path / "la.png"), Image.new("LA", (5, 3), (90, 255)))
  out = images.load_image_rgb(tmp_path / "la.png")
  assert out.shape == (3, 5, 3) and (out == 90).all()
  save(str(tmp_path / "b.bmp"), Image.new("1", (6, 2), 1))
  assert (images.load_image_rgb(tmp_path / "b.bmp") == 255).all()


@pytest.mark.parametrize("name", ["002.B/trunc.jpg", "002.B/random.jpg"])
def test_load_image_unreadable(tmp_path, name):
  root = make_cub(tmp_path / "cub")
  path = os.path.join(root, "images", name)
  with pytest.raises(DataError, match="unreadable image") as e:
    images.load_image_rgb(path)
  assert str(e.value).startswith(path + ":") and "\n" not in str(e.value)


def test_load_image_missing_and_empty(tmp_path):
  with pytest.raises(DataError, match="missing image file"):
    images.load_image_rgb(tmp_path / "nope.jpg")
  (tmp_path / "empty.png").write_bytes(b"")
  with pytest.raises(DataError, match="empty.png: unreadable image"):
    images.load_image_rgb(tmp_path / "empty.png")


def test_load_mask(tmp_path):
  m = np.zeros((5, 7), np.uint8)
  m[1:3, 2:5] = 255
  m[4, 6] = 128
  save(str(tmp_path / "m.png"), m)
  out = images.load_mask(tmp_path / "m.png")
  assert out.dtype == np.float32 and out.shape == (5, 7)
  assert out.max() == 1.0 and out.min() == 0.0
  assert out[4, 6] == pytest.approx(128 / 255)  # No threshold on read.
  assert out.sum() == pytest.approx(6 + 128 / 255)


def test_list_images(tmp_path):
  for n in ("b.JPG", "a.png", "c.jpeg", "d.bmp", "notes.txt"):
    (tmp_path / n).write_bytes(b"x")
  assert [os.path.basename(p) for p in images.list_images(tmp_path)] == [
      "a.png", "b.JPG", "c.jpeg", "d.bmp"]
  (tmp_path / "e").mkdir()
  with pytest.raises(DataError, match="no images"):
    images.list_images(tmp_path / "e")
  with pytest.raises(DataError, match="missing image directory"):
    images.list_images(tmp_path / "f")


def test_formats_pillow_reads(tmp_path):
  """webp, tif and the first frame of a gif are images too."""
  a = rect_image(12, 8, (2, 2, 4, 4))
  Image.fromarray(a).save(tmp_path / "x.webp", lossless=True)
  Image.fromarray(a).save(tmp_path / "x.tif")
  frames = [Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE), Image.new("P", (12, 8))]
  frames[0].save(tmp_path / "x.gif", save_all=True, append_images=frames[1:])
  for name in ("x.webp", "x.tif", "x.gif"):
    out = images.load_image_rgb(tmp_path / name)
    assert out.shape == (8, 12, 3), name
    np.testing.assert_array_equal(out, a, err_msg=name)  # the gif: its first frame
  for ext in (".webp", ".tif", ".tiff", ".gif", ".jpg", ".png", ".bmp"):
    assert images.is_image_name("photo" + ext.upper()), ext
  assert not images.is_image_name("notes.txt")


@pytest.mark.parametrize("orientation,turn", [(3, 2), (6, 1), (8, -1)])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
  """A phone photo stored turned, with an EXIF tag saying how to show it, decodes upright, masks too;
  image_size gives the upright size from the header."""
  a = rect_image(12, 8, (1, 2, 3, 4))
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(np.ascontiguousarray(np.rot90(a, turn))).save(tmp_path / "p.png", exif=exif)
  np.testing.assert_array_equal(images.load_image_rgb(tmp_path / "p.png"), a)
  assert images.image_size(tmp_path / "p.png") == (12, 8)
  m = np.zeros((8, 12), np.uint8)
  m[0, :3] = 255
  Image.fromarray(np.ascontiguousarray(np.rot90(m, turn))).save(tmp_path / "m.png", exif=exif)
  np.testing.assert_array_equal(images.load_mask(tmp_path / "m.png"), m / 255.0)


def test_no_orientation_tag_changes_nothing(tmp_path):
  """Images without an orientation (or with tag 1) decode exactly as stored, as before."""
  a = np.random.default_rng(0).integers(0, 256, (9, 13, 3)).astype(np.uint8)
  exif = Image.Exif()
  exif[0x0112] = 1
  Image.fromarray(a).save(tmp_path / "one.png", exif=exif)
  Image.fromarray(a).save(tmp_path / "none.jpg", quality=90)
  np.testing.assert_array_equal(images.load_image_rgb(tmp_path / "one.png"), a)
  with Image.open(tmp_path / "none.jpg") as im:
    stored = np.asarray(im.convert("RGB"))
  np.testing.assert_array_equal(images.load_image_rgb(tmp_path / "none.jpg"), stored)
  assert images.image_size(tmp_path / "none.jpg") == (13, 9)


def test_scan_images_recurses_and_names_what_it_leaves(tmp_path):
  """Subfolders are read (relative paths kept), broken links and other files are named, not
  dropped without a word; list_images stays flat unless asked."""
  for rel in ("b.JPG", "sub/c.webp", "sub/deeper/d.tif", "notes.txt", ".DS_Store", "._b.jpg",
              ".hidden/e.png"):
    os.makedirs(os.path.dirname(tmp_path / rel), exist_ok=True)
    (tmp_path / rel).write_bytes(b"x")
  os.symlink(tmp_path / "nowhere.png", tmp_path / "gone.png")
  os.symlink(tmp_path, tmp_path / "sub" / "loop")  # a link back up: each folder once
  scan = images.scan_images(tmp_path)
  assert scan.images == ["b.JPG", os.path.join("sub", "c.webp"),
                         os.path.join("sub", "deeper", "d.tif")]
  assert scan.broken_links == ["gone.png"] and scan.subfolders == 2
  assert sorted(scan.others) == sorted([".DS_Store", "._b.jpg", ".hidden" + os.sep, "notes.txt"])
  assert scan.ignored_summary().startswith("ignored 4 other files: ")
  assert [os.path.basename(p) for p in images.list_images(tmp_path)] == ["b.JPG"]
  assert len(images.list_images(tmp_path, recursive=True)) == 3
  flat = images.scan_images(tmp_path, recursive=False)
  assert "sub" + os.sep in flat.others
