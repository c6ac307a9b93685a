"""ind_prior_tf.data.images: decoding image and mask files; image folders."""

import os

import numpy as np
import pytest
from PIL import Image

from ind_prior_tf.data import images
from ind_prior_tf.errors import DataError
from tests.data_fixtures import RED, make_cub, rect_image, save


def test_load_image_modes(tmp_path):
  root = make_cub(tmp_path / 'cub')
  img = os.path.join(root, 'images')
  for rel in ('001.A/rgb.jpg', '001.A/gray.jpg', '001.A/cmyk.jpg',
              '002.B/wide.png', '002.B/rgba.png'):
    a = images.load_image_rgb(os.path.join(img, rel))
    assert a.dtype == np.uint8 and a.shape == (30, 40, 3), rel
  gray = images.load_image_rgb(os.path.join(img, '001.A/gray.jpg'))
  assert np.array_equal(gray[..., 0], gray[..., 1])
  assert abs(int(gray[10, 12, 0]) - 200) < 8 and abs(int(gray[0, 0, 0]) - 50) < 8
  cmyk = images.load_image_rgb(os.path.join(img, '001.A/cmyk.jpg'))
  assert np.abs(cmyk[10, 12].astype(int) - RED).max() < 30
  wide = images.load_image_rgb(os.path.join(img, '002.B/wide.png'))
  assert wide[10, 12, 0] == 255 and wide[0, 0, 0] == 4  # 1000 / 257.
  rgba = images.load_image_rgb(os.path.join(img, '002.B/rgba.png'))
  assert tuple(rgba[10, 12]) == RED


def test_load_image_alpha_palette_la(tmp_path):
  a = np.zeros((4, 4, 4), np.uint8)
  a[..., :3] = 200
  a[..., 3] = 255
  a[0, 0, 3] = 0  # Transparent -> black.
  save(str(tmp_path / 'a.png'), a)
  out = images.load_image_rgb(tmp_path / 'a.png')
  assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (200, 200, 200)
  save(str(tmp_path / 'p.png'),
        Image.fromarray(rect_image(8, 8, (2, 2, 4, 4))).convert(
            'P', palette=Image.Palette.ADAPTIVE))
  assert tuple(images.load_image_rgb(tmp_path / 'p.png')[3, 3]) == RED
  save(str(tmp_path / 'la.png'), Image.new('LA', (5, 3), (90, 255)))
  out = images.load_image_rgb(tmp_path / 'la.png')
  assert out.shape == (3, 5, 3) and (out == 90).all()
  save(str(tmp_path / 'b.bmp'), Image.new('1', (6, 2), 1))
  assert (images.load_image_rgb(tmp_path / 'b.bmp') == 255).all()


@pytest.mark.parametrize('name', ['002.B/trunc.jpg', '002.B/random.jpg'])
def test_load_image_unreadable(tmp_path, name):
  root = make_cub(tmp_path / 'cub')
  path = os.path.join(root, 'images', name)
  with pytest.raises(DataError, match='unreadable image') as e:
    images.load_image_rgb(path)
  assert str(e.value).startswith(path + ':') and '\n' not in str(e.value)


def test_load_image_missing_and_empty(tmp_path):
  with pytest.raises(DataError, match='missing image file'):
    images.load_image_rgb(tmp_path / 'nope.jpg')
  (tmp_path / 'empty.png').write_bytes(b'')
  with pytest.raises(DataError, match='empty.png: unreadable image'):
    images.load_image_rgb(tmp_path / 'empty.png')


def test_load_mask(tmp_path):
  m = np.zeros((5, 7), np.uint8)
  m[1:3, 2:5] = 255
  m[4, 6] = 128
  save(str(tmp_path / 'm.png'), m)
  out = images.load_mask(tmp_path / 'm.png')
  assert out.dtype == np.float32 and out.shape == (5, 7)
  assert out.max() == 1.0 and out.min() == 0.0
  assert out[4, 6] == pytest.approx(128 / 255)  # No threshold on read.
  assert out.sum() == pytest.approx(6 + 128 / 255)


def test_list_images(tmp_path):
  for n in ('b.JPG', 'a.png', 'c.jpeg', 'd.bmp', 'notes.txt'):
    (tmp_path / n).write_bytes(b'x')
  assert [os.path.basename(p) for p in images.list_images(tmp_path)] == [
      'a.png', 'b.JPG', 'c.jpeg', 'd.bmp']
  (tmp_path / 'e').mkdir()
  with pytest.raises(DataError, match='no images'):
    images.list_images(tmp_path / 'e')
  with pytest.raises(DataError, match='missing image directory'):
    images.list_images(tmp_path / 'f')
