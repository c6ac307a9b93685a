"""Tests of ind_prior_tf.datasets on tiny fixtures in the real file layouts."""

import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from ind_prior_tf import datasets as D

RED = (220, 30, 40)


# --------------------------------------------------------------------------
# Fixture helpers.


def _rect_image(w, h, box, color=RED, bg=(20, 120, 20)):
  """Background `bg`, a filled rectangle of `color` over box (x, y, w, h)."""
  a = np.empty((h, w, 3), np.uint8)
  a[:] = bg
  x, y, bw, bh = box
  a[y:y + bh, x:x + bw] = color
  return a


def _save(path, array_or_image, **kw):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  im = (array_or_image if isinstance(array_or_image, Image.Image)
        else Image.fromarray(array_or_image))
  im.save(path, **kw)


def make_cub(root):
  """A CUB-200-2011 layout with good and bad items.

  id  file                     problem
  1   001.A/rgb.jpg            ok, mask
  2   001.A/gray.jpg           grayscale JPEG, mask
  3   001.A/cmyk.jpg           CMYK JPEG
  4   002.B/wide.png           16-bit grayscale PNG
  5   002.B/rgba.png           RGBA PNG
  6   002.B/trunc.jpg          truncated JPEG         -> unreadable
  7   002.B/random.jpg         random bytes           -> unreadable
  8   002.B/border.jpg         box exceeds the border (clipped), test split
  9   002.B/zero.jpg           zero-area box           -> empty box
  10  002.B/nobox.jpg          id missing from bounding_boxes.txt
  11  002.B/outside.jpg        box fully outside the image -> empty box
  """
  root = str(root)
  img = os.path.join(root, 'images')
  seg = os.path.join(root, 'segmentations')
  box = (8, 6, 16, 12)  # x, y, w, h
  rgb = _rect_image(40, 30, box)
  _save(os.path.join(img, '001.A/rgb.jpg'), rgb, quality=95, subsampling=0)
  mask = np.zeros((30, 40), np.uint8)
  mask[9:15, 12:20] = 255  # Inside the box: rows 3..8, cols 4..11 of the crop.
  _save(os.path.join(seg, '001.A/rgb.png'), mask)
  gray = np.full((30, 40), 50, np.uint8)
  gray[6:18, 8:24] = 200
  _save(os.path.join(img, '001.A/gray.jpg'), gray, quality=95, subsampling=0)
  _save(os.path.join(seg, '001.A/gray.png'), mask)
  _save(os.path.join(img, '001.A/cmyk.jpg'),
        Image.fromarray(rgb).convert('CMYK'), quality=95, subsampling=0)
  wide = np.full((30, 40), 1000, np.uint16)
  wide[6:18, 8:24] = 65535
  _save(os.path.join(img, '002.B/wide.png'), wide)
  rgba = np.concatenate([rgb, np.full((30, 40, 1), 255, np.uint8)], axis=2)
  _save(os.path.join(img, '002.B/rgba.png'), rgba)
  good_jpg = os.path.join(img, '002.B/trunc.jpg')
  _save(good_jpg, _rect_image(64, 64, (4, 4, 40, 40)), quality=95, subsampling=0)
  data = open(good_jpg, 'rb').read()
  with open(good_jpg, 'wb') as f:
    f.write(data[:len(data) // 2])
  with open(os.path.join(img, '002.B/random.jpg'), 'wb') as f:
    f.write(np.random.default_rng(0).bytes(500))
  _save(os.path.join(img, '002.B/border.jpg'),
        _rect_image(40, 30, (30, 20, 10, 10)), quality=95, subsampling=0)
  for name in ('zero', 'nobox', 'outside'):
    _save(os.path.join(img, f'002.B/{name}.jpg'), rgb, quality=95, subsampling=0)

  files = ['001.A/rgb.jpg', '001.A/gray.jpg', '001.A/cmyk.jpg', '002.B/wide.png',
           '002.B/rgba.png', '002.B/trunc.jpg', '002.B/random.jpg',
           '002.B/border.jpg', '002.B/zero.jpg', '002.B/nobox.jpg',
           '002.B/outside.jpg']
  boxes = {i: '8 6 16 12' for i in range(1, 12)}
  boxes[8] = '30.0 20.0 25.0 25.0'  # Exceeds right/bottom border.
  boxes[9] = '10 10 0 5'
  boxes[11] = '100 100 10 10'
  del boxes[10]
  with open(os.path.join(root, 'images.txt'), 'w') as f:
    f.writelines(f'{i} {p}\n' for i, p in enumerate(files, 1))
  with open(os.path.join(root, 'bounding_boxes.txt'), 'w') as f:
    f.writelines(f'{i} {b}\n' for i, b in boxes.items())
  with open(os.path.join(root, 'train_test_split.txt'), 'w') as f:
    f.writelines(f'{i} {0 if i == 8 else 1}\n' for i in range(1, 12))
  return root


def make_celeba(root, n=5, partition=True):
  root = str(root)
  os.makedirs(os.path.join(root, 'img_celeba'))
  lines = [f'{n}\n', 'image_id x_1 y_1 width height\n']
  for i in range(1, n + 1):
    name = f'{i:06d}.jpg'
    box = (5 + i, 4, 20, 24)
    _save(os.path.join(root, 'img_celeba', name), _rect_image(48, 40, box),
          quality=95, subsampling=0)
    lines.append(f'{name} {box[0]} {box[1]} {box[2]} {box[3]}\n')
  with open(os.path.join(root, 'list_bbox_celeba.txt'), 'w') as f:
    f.writelines(lines)
  if partition:
    with open(os.path.join(root, 'list_eval_partition.txt'), 'w') as f:
      f.writelines(f'{i:06d}.jpg {[0, 0, 0, 1, 2][(i - 1) % 5]}\n'
                   for i in range(1, n + 1))
  return root


# --------------------------------------------------------------------------
# load_image_rgb / load_mask.


def test_load_image_modes(tmp_path):
  root = make_cub(tmp_path / 'cub')
  img = os.path.join(root, 'images')
  for rel in ('001.A/rgb.jpg', '001.A/gray.jpg', '001.A/cmyk.jpg',
              '002.B/wide.png', '002.B/rgba.png'):
    a = D.load_image_rgb(os.path.join(img, rel))
    assert a.dtype == np.uint8 and a.shape == (30, 40, 3), rel
  gray = D.load_image_rgb(os.path.join(img, '001.A/gray.jpg'))
  assert np.array_equal(gray[..., 0], gray[..., 1])
  assert abs(int(gray[10, 12, 0]) - 200) < 8 and abs(int(gray[0, 0, 0]) - 50) < 8
  cmyk = D.load_image_rgb(os.path.join(img, '001.A/cmyk.jpg'))
  assert np.abs(cmyk[10, 12].astype(int) - RED).max() < 30
  wide = D.load_image_rgb(os.path.join(img, '002.B/wide.png'))
  assert wide[10, 12, 0] == 255 and wide[0, 0, 0] == 4  # 1000 / 257.
  rgba = D.load_image_rgb(os.path.join(img, '002.B/rgba.png'))
  assert tuple(rgba[10, 12]) == RED


def test_load_image_alpha_palette_la(tmp_path):
  a = np.zeros((4, 4, 4), np.uint8)
  a[..., :3] = 200
  a[..., 3] = 255
  a[0, 0, 3] = 0  # Transparent -> black.
  _save(str(tmp_path / 'a.png'), a)
  out = D.load_image_rgb(tmp_path / 'a.png')
  assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (200, 200, 200)
  _save(str(tmp_path / 'p.png'),
        Image.fromarray(_rect_image(8, 8, (2, 2, 4, 4))).convert(
            'P', palette=Image.Palette.ADAPTIVE))
  assert tuple(D.load_image_rgb(tmp_path / 'p.png')[3, 3]) == RED
  _save(str(tmp_path / 'la.png'), Image.new('LA', (5, 3), (90, 255)))
  out = D.load_image_rgb(tmp_path / 'la.png')
  assert out.shape == (3, 5, 3) and (out == 90).all()
  _save(str(tmp_path / 'b.bmp'), Image.new('1', (6, 2), 1))
  assert (D.load_image_rgb(tmp_path / 'b.bmp') == 255).all()


@pytest.mark.parametrize('name', ['002.B/trunc.jpg', '002.B/random.jpg'])
def test_load_image_unreadable(tmp_path, name):
  root = make_cub(tmp_path / 'cub')
  path = os.path.join(root, 'images', name)
  with pytest.raises(D.DataError, match='unreadable image') as e:
    D.load_image_rgb(path)
  assert str(e.value).startswith(path + ':') and '\n' not in str(e.value)


def test_load_image_missing_and_empty(tmp_path):
  with pytest.raises(D.DataError, match='missing image file'):
    D.load_image_rgb(tmp_path / 'nope.jpg')
  (tmp_path / 'empty.png').write_bytes(b'')
  with pytest.raises(D.DataError, match='empty.png: unreadable image'):
    D.load_image_rgb(tmp_path / 'empty.png')


def test_load_mask(tmp_path):
  m = np.zeros((5, 7), np.uint8)
  m[1:3, 2:5] = 255
  m[4, 6] = 128
  _save(str(tmp_path / 'm.png'), m)
  out = D.load_mask(tmp_path / 'm.png')
  assert out.dtype == np.float32 and out.shape == (5, 7)
  assert out.max() == 1.0 and out.min() == 0.0
  assert out[4, 6] == pytest.approx(128 / 255)  # No threshold on read.
  assert out.sum() == pytest.approx(6 + 128 / 255)


# --------------------------------------------------------------------------
# read_cub / read_celeba.


def test_read_cub(tmp_path):
  root = make_cub(tmp_path / 'cub')
  recs = D.read_cub(root)
  assert [r.id for r in recs] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
  assert recs.skipped.counts() == {'not in bounding_boxes.txt': 1}
  assert recs.skipped.total == 11
  r1 = recs[0]
  assert r1.box == (8.0, 6.0, 16.0, 12.0) and r1.is_train
  assert r1.image_path == os.path.join(root, 'images', '001.A/rgb.jpg')
  assert r1.mask_path == os.path.join(root, 'segmentations', '001.A/rgb.png')
  assert recs[2].mask_path is None
  assert not [r for r in recs if r.id == 8][0].is_train
  with_masks = D.read_cub(root, require_masks=True)
  assert [r.id for r in with_masks] == [1, 2]
  assert with_masks.skipped.counts()['no mask'] == 8


@pytest.mark.parametrize('missing', ['images.txt', 'bounding_boxes.txt',
                                     'train_test_split.txt'])
def test_read_cub_missing_list(tmp_path, missing):
  root = make_cub(tmp_path / 'cub')
  os.remove(os.path.join(root, missing))
  with pytest.raises(D.DataError) as e:
    D.read_cub(root)
  msg = str(e.value)
  assert msg.startswith(os.path.join(root, missing) + ': missing')
  assert 'CUB-200-2011 layout' in msg and '\n' not in msg


def test_read_cub_bad_files(tmp_path):
  with pytest.raises(D.DataError, match='missing directory'):
    D.read_cub(tmp_path / 'nothing')
  root = make_cub(tmp_path / 'cub')
  with open(os.path.join(root, 'bounding_boxes.txt'), 'a') as f:
    f.write('12 1 2 3\n')
  with pytest.raises(D.DataError, match=r'bounding_boxes.txt:11: expected 5'):
    D.read_cub(root)
  root = make_cub(tmp_path / 'cub2')
  with open(os.path.join(root, 'train_test_split.txt'), 'a') as f:
    f.write('1 1\n')
  with pytest.raises(D.DataError, match='duplicate image id 1'):
    D.read_cub(root)
  empty = tmp_path / 'empty'
  (empty / 'images').mkdir(parents=True)
  for n in ('images.txt', 'bounding_boxes.txt', 'train_test_split.txt'):
    (empty / n).write_text('')
  with pytest.raises(D.DataError, match='images.txt: no images listed'):
    D.read_cub(empty)


def test_read_cub_missing_image_file_is_skip(tmp_path):
  root = make_cub(tmp_path / 'cub')
  os.remove(os.path.join(root, 'images', '001.A/cmyk.jpg'))
  recs = D.read_cub(root)
  assert 3 not in [r.id for r in recs]
  assert recs.skipped.counts()['missing file'] == 1


def test_read_celeba(tmp_path):
  root = make_celeba(tmp_path / 'celeba')
  recs = D.read_celeba(root)
  assert [r.id for r in recs] == [1, 2, 3, 4, 5]
  assert [r.is_train for r in recs] == [True, True, True, False, False]
  assert recs[0].box == (6.0, 4.0, 20.0, 24.0) and recs[0].mask_path is None
  assert recs[0].image_path == os.path.join(root, 'img_celeba', '000001.jpg')
  root2 = make_celeba(tmp_path / 'celeba2', partition=False)
  assert all(r.is_train for r in D.read_celeba(root2))
  os.remove(os.path.join(root2, 'list_bbox_celeba.txt'))
  with pytest.raises(D.DataError, match='list_bbox_celeba.txt: missing'):
    D.read_celeba(root2)


def test_read_celeba_bad_header(tmp_path):
  root = make_celeba(tmp_path / 'celeba', n=2)
  p = os.path.join(root, 'list_bbox_celeba.txt')
  lines = open(p).read().splitlines()
  open(p, 'w').write('\n'.join([lines[0], 'foo bar'] + lines[2:]) + '\n')
  with pytest.raises(D.DataError, match=r'list_bbox_celeba.txt:2: expected header'):
    D.read_celeba(root)


def test_list_images(tmp_path):
  for n in ('b.JPG', 'a.png', 'c.jpeg', 'd.bmp', 'notes.txt'):
    (tmp_path / n).write_bytes(b'x')
  assert [os.path.basename(p) for p in D.list_images(tmp_path)] == [
      'a.png', 'b.JPG', 'c.jpeg', 'd.bmp']
  (tmp_path / 'e').mkdir()
  with pytest.raises(D.DataError, match='no images'):
    D.list_images(tmp_path / 'e')
  with pytest.raises(D.DataError, match='missing image directory'):
    D.list_images(tmp_path / 'f')


# --------------------------------------------------------------------------
# crop_box.


def test_crop_box_content_and_mask():
  image = _rect_image(40, 30, (8, 6, 16, 12))
  mask = np.zeros((30, 40), np.float32)
  mask[6:18, 8:16] = 1.0  # Left half of the box.
  crop, m = D.crop_box(image, (8, 6, 16, 12), 32, mask)
  assert crop.dtype == np.uint8 and crop.shape == (32, 32, 3)
  assert (crop == np.array(RED, np.uint8)).all()  # Exactly the rectangle.
  assert m.dtype == np.float32 and m.shape == (32, 32)
  assert (m[:, :15] == 1).all() and (m[:, 17:] == 0).all()
  assert 0 <= m.min() and m.max() <= 1


def test_crop_box_clip_and_empty():
  image = _rect_image(40, 30, (30, 20, 10, 10))
  crop, m = D.crop_box(image, (30, 20, 25, 25), 16)  # Clipped to 10x10.
  assert m is None and (crop == np.array(RED, np.uint8)).all()
  crop, _ = D.crop_box(image, (-5, -5, 50, 50), 8)  # Whole image.
  assert crop.shape == (8, 8, 3)
  with pytest.raises(D.EmptyBoxError, match='zero area'):
    D.crop_box(image, (1, 1, 0, 5), 8)
  with pytest.raises(D.EmptyBoxError, match='outside'):
    D.crop_box(image, (100, 1, 5, 5), 8)
  assert issubclass(D.EmptyBoxError, D.DataError)
  assert issubclass(D.DataError, ValueError)


# --------------------------------------------------------------------------
# Prepared sets.


def test_prepare_cub_roundtrip(tmp_path):
  root = make_cub(tmp_path / 'cub')
  recs = D.read_cub(root)
  out = str(tmp_path / 'prep')
  meta = D.prepare_set(recs, out, 16, source='cub:test')
  # 11 ids: 1 no box, 2 unreadable, 2 empty boxes -> 6 written.
  assert meta['count'] == 6 and meta['size'] == 16
  assert meta['splits'] == {'train': 5, 'test': 1}
  assert meta['has_masks'] and meta['mask_count'] == 2
  assert meta['skipped_summary'] == (
      'skipped 5 of 11 images: 2 unreadable, 2 empty box, '
      '1 not in bounding_boxes.txt')
  assert D.read_meta(out)['count'] == 6
  assert sorted(os.listdir(out)) == ['data-00000-of-00001.tfrecord',
                                     'meta.json', 'skipped.txt']
  skipped = open(os.path.join(out, 'skipped.txt')).read().splitlines()
  assert len(skipped) == 5
  assert any('trunc.jpg\tunreadable' in s for s in skipped)
  assert any('random.jpg\tunreadable' in s for s in skipped)
  assert any('zero.jpg\tempty box' in s for s in skipped)
  assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]

  arr = D.load_prepared_arrays(out)
  assert arr['images'].shape == (6, 16, 16, 3) and arr['images'].dtype == np.uint8
  assert arr['masks'].shape == (6, 16, 16, 1) and arr['masks'].dtype == np.float32
  assert sorted(arr['ids'].tolist()) == [1, 2, 3, 4, 5, 8]
  by_id = {int(i): k for k, i in enumerate(arr['ids'])}
  for i in (1, 3, 5, 8):  # RGB, CMYK, RGBA, border box: the red rectangle.
    assert np.abs(arr['images'][by_id[i]].astype(int) - RED).max() <= 25, i
  assert arr['has_mask'][by_id[1]] and not arr['has_mask'][by_id[3]]
  m = arr['masks'][by_id[1], :, :, 0]
  # Mask rows 9..14 / cols 12..19 of the image = crop rows 3..8, cols 4..11 of
  # a 12x16 crop, scaled by 16/12 and 16/16.
  assert m[6, 7] == 1.0 and m[0, 0] == 0.0 and m[15, 15] == 0.0
  np.testing.assert_allclose(m * 255, np.round(m * 255), atol=1e-3)  # 8-bit.
  assert 0 < m[2, 7] < 1 or 0 < m[3, 7] < 1 or 0 < m[11, 7] < 1  # Soft edge.
  assert (arr['masks'][by_id[3]] == 0).all()
  gray = arr['images'][by_id[2]]
  assert np.array_equal(gray[..., 0], gray[..., 2])

  test = D.load_prepared_arrays(out, split='test')
  assert test['ids'].tolist() == [8]
  only = D.load_prepared_arrays(out, split='train', only_with_masks=True)
  assert sorted(only['ids'].tolist()) == [1, 2] and only['has_mask'].all()
  none = D.load_prepared_arrays(out, split='test', only_with_masks=True)
  assert none['images'].shape == (0, 16, 16, 3)


def test_prepared_dataset(tmp_path):
  root = make_cub(tmp_path / 'cub')
  out = str(tmp_path / 'prep')
  D.prepare_set(D.read_cub(root), out, 16, source='cub:test')
  arr = D.load_prepared_arrays(out)
  ds = D.prepared_dataset(out, with_masks=True)
  elems = list(ds.as_numpy_iterator())
  assert len(elems) == 6
  e = elems[0]
  assert set(e) == {'image', 'mask', 'has_mask', 'id'}
  assert e['image'].dtype == np.float32 and e['image'].shape == (16, 16, 3)
  assert e['mask'].shape == (16, 16, 1)
  k = list(arr['ids']).index(e['id'])
  np.testing.assert_allclose(e['image'], arr['images'][k] / 255.0, atol=1e-6)
  np.testing.assert_allclose(e['mask'], arr['masks'][k], atol=1e-6)
  for x in elems:
    assert 0 <= x['image'].min() and x['image'].max() <= 1
  no_masks = next(iter(D.prepared_dataset(out, split='train')))
  assert 'mask' not in no_masks
  assert len(list(D.prepared_dataset(out, only_with_masks=True))) == 2
  with pytest.raises(D.DataError, match='split'):
    D.prepared_dataset(out, split='val')


def test_prepared_sharding_and_mixed(tmp_path):
  def examples(n):
    rng = np.random.default_rng(1)
    for i in range(n):
      m = (rng.random((8, 8)) > 0.5).astype(np.float32) if i % 2 else None
      yield {'image': rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
             'mask': m, 'id': 100 + i, 'is_train': i < 5}
  out = str(tmp_path / 'p')
  meta = D.write_prepared(out, examples(7), 8, 'synthetic', shard_size=3)
  assert meta['shards'] == [f'data-0000{i}-of-00003.tfrecord' for i in range(3)]
  assert meta['count'] == 7 and meta['mask_count'] == 3
  arr = D.load_prepared_arrays(out)
  order = np.argsort(arr['ids'])
  assert arr['ids'][order].tolist() == list(range(100, 107))
  expected = list(examples(7))
  for k, ex in zip(order, expected):
    assert np.array_equal(arr['images'][k], ex['image'])  # PNG is lossless.
    if ex['mask'] is None:
      assert not arr['has_mask'][k] and (arr['masks'][k] == 0).all()
    else:
      assert arr['has_mask'][k]
      assert np.array_equal(arr['masks'][k, :, :, 0], ex['mask'])
  os.remove(os.path.join(out, 'data-00001-of-00003.tfrecord'))
  with pytest.raises(D.DataError, match='incomplete shards'):
    D.load_prepared_arrays(out)


def test_write_prepared_refuses_overwrite(tmp_path):
  def one(value):
    yield {'image': np.full((4, 4, 3), value, np.uint8), 'mask': None, 'id': 1,
           'is_train': True}
  out = str(tmp_path / 'p')
  D.write_prepared(out, one(10), 4, 's')
  before = {n: open(os.path.join(out, n), 'rb').read() for n in os.listdir(out)}
  with pytest.raises(D.DataError, match='exists and is not empty'):
    D.write_prepared(out, one(20), 4, 's')
  after = {n: open(os.path.join(out, n), 'rb').read() for n in os.listdir(out)}
  assert before == after
  D.write_prepared(out, one(30), 4, 's', overwrite=True)
  assert (D.load_prepared_arrays(out)['images'] == 30).all()
  assert sorted(os.listdir(tmp_path)) == ['p']
  # Zero examples: DataError, nothing written, no temp dir left behind.
  with pytest.raises(D.DataError, match='no usable examples'):
    D.write_prepared(str(tmp_path / 'q'), iter([]), 4, 's')
  assert sorted(os.listdir(tmp_path)) == ['p']
  with pytest.raises(D.DataError, match='image must be uint8'):
    D.write_prepared(str(tmp_path / 'q'), iter([{'image': np.zeros((5, 5, 3))}]),
                     4, 's')
  assert sorted(os.listdir(tmp_path)) == ['p']


def test_read_meta_missing_and_malformed(tmp_path):
  with pytest.raises(D.DataError, match=r'meta.json: missing; run `make cub-prep`'):
    D.read_meta(tmp_path)
  (tmp_path / 'meta.json').write_text('{"size": 8')
  with pytest.raises(D.DataError, match='malformed meta.json'):
    D.read_meta(tmp_path)


def test_prepare_celeba(tmp_path):
  root = make_celeba(tmp_path / 'celeba')
  out = str(tmp_path / 'prep')
  meta = D.prepare_set(D.read_celeba(root), out, 16, source='celeba')
  assert meta['count'] == 5 and not meta['has_masks']
  assert meta['splits'] == {'train': 3, 'test': 2}
  arr = D.load_prepared_arrays(out)
  assert np.abs(arr['images'].astype(int) - RED).max() <= 25
  assert not arr['has_mask'].any()


# --------------------------------------------------------------------------
# Background pools.


def test_background_patches(tmp_path):
  folder = tmp_path / 'bg'
  rng = np.random.default_rng(0)
  for i in range(3):
    _save(str(folder / f'{i}.png'), rng.integers(0, 256, (20 + 5 * i, 30, 3),
                                                 dtype=np.uint8))
  _save(str(folder / 'gray.jpg'), np.full((25, 25), 77, np.uint8))
  (folder / 'broken.jpg').write_bytes(b'not an image')
  paths = D.list_images(folder)
  a = D.background_patches(paths, 12, 40, seed=3)
  assert a.shape == (40, 12, 12, 3) and a.dtype == np.uint8
  assert np.array_equal(a, D.background_patches(paths, 12, 40, seed=3))
  assert not np.array_equal(a, D.background_patches(paths, 12, 40, seed=4))
  assert len({p.tobytes() for p in a}) > 30
  # Full-scale crops of a constant image are that constant.
  g = D.background_patches([str(folder / 'gray.jpg')], 8, 3, seed=0,
                           min_scale=1.0)
  assert np.abs(g.astype(int) - 77).max() <= 2
  with pytest.raises(D.DataError, match='no readable images'):
    D.background_patches([str(folder / 'broken.jpg')], 8, 3, seed=0)
  with pytest.raises(D.DataError, match='no image paths'):
    D.background_patches([], 8, 3, seed=0)


def test_outside_box_patches(tmp_path):
  # Green everywhere outside the red box; patches must contain no red.
  root = make_cub(tmp_path / 'cub')
  recs = [r for r in D.read_cub(root) if r.id in (1, 3, 6, 9)]
  a = D.outside_box_patches(recs, 8, 30, seed=0)
  assert a.shape == (30, 8, 8, 3) and a.dtype == np.uint8
  assert np.array_equal(a, D.outside_box_patches(recs, 8, 30, seed=0))
  red = (a[..., 0] > 150) & (a[..., 1] < 100)
  assert not red.any()
  # A box covering the whole image leaves nothing.
  whole = D.Record(id=1, image_path=recs[0].image_path, box=(0, 0, 40, 30),
                   is_train=True)
  with pytest.raises(D.DataError, match='no image has a background region'):
    D.outside_box_patches([whole], 8, 5, seed=0)


def test_outside_box_patches_max_zoom_keeps_patches_at_the_crops_scale(tmp_path):
  # Red encodes x (red = 2x): a patch's red span measures the width of its source window.
  ramp = np.zeros((60, 100, 3), np.uint8)
  ramp[..., 0] = 2 * np.arange(100)[None, :]
  Image.fromarray(ramp).save(tmp_path / 'ramp.png')
  path = str(tmp_path / 'ramp.png')
  wide = D.Record(id=1, image_path=path, box=(0, 0, 40, 60), is_train=True)  # 60 px strip
  thin = D.Record(id=2, image_path=path, box=(10, 0, 80, 60), is_train=True)  # 10 px strips

  def spans(patches):
    red = patches[..., 0].astype(int)
    return red.max(axis=(1, 2)) - red.min(axis=(1, 2))

  free = D.outside_box_patches([wide], 8, 30, seed=0)
  assert spans(free).min() < 20  # sides from size/4 = 2 px: magnified up to 4x the crop's scale
  # max_zoom=2: sides >= 60 / 2 = 30 px (the box's long side / zoom): every span >= ~2 * 30 * 7/8.
  zoomed = D.outside_box_patches([wide, thin], 8, 30, seed=0, max_zoom=2)
  assert spans(zoomed).min() >= 45
  # The thin image cannot give a 40 px patch at zoom <= 2 (80 / 2 = 40 > 10): skipped; alone, an error.
  with pytest.raises(D.DataError, match=r'max_zoom 2'):
    D.outside_box_patches([thin], 8, 5, seed=0, max_zoom=2)
  with pytest.raises(D.DataError, match='max_zoom=0'):
    D.outside_box_patches([wide], 8, 5, seed=0, max_zoom=0)


def test_pool_save_load(tmp_path):
  p = str(tmp_path / 'pool.npz')
  patches = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
  D.save_pool(p, patches)
  assert os.listdir(tmp_path) == ['pool.npz']
  assert np.array_equal(D.load_pool(p), patches)
  with pytest.raises(D.DataError, match='missing patch pool'):
    D.load_pool(str(tmp_path / 'nope.npz'))
  (tmp_path / 'bad.npz').write_bytes(b'garbage')
  with pytest.raises(D.DataError, match='bad.npz: corrupt patch pool'):
    D.load_pool(str(tmp_path / 'bad.npz'))
  np.savez_compressed(tmp_path / 'other.npz', x=patches)
  with pytest.raises(D.DataError, match='no `patches` array'):
    D.load_pool(str(tmp_path / 'other.npz'))
  np.savez_compressed(tmp_path / 'shape.npz', patches=patches[..., 0])
  with pytest.raises(D.DataError, match=r'expected uint8 \[N,S,S,3\]'):
    D.load_pool(str(tmp_path / 'shape.npz'))
  with zipfile.ZipFile(tmp_path / 'trunc.npz', 'w') as z:
    z.writestr('patches.npy', b'\x93NUMPY')
  with pytest.raises(D.DataError, match='corrupt patch pool'):
    D.load_pool(str(tmp_path / 'trunc.npz'))
  with pytest.raises(D.DataError, match='must be uint8'):
    D.save_pool(p, patches.astype(np.float32))


# --------------------------------------------------------------------------
# HOC patches.


def test_extract_patches_count_and_content():
  image = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3) % 251
  image = image.astype(np.uint8)
  # Rows: 0,4,8 + border 10 -> 4; cols: 0,4,...,20 (6) -> 6 (exact fit).
  p = D.extract_patches(image, 10, 4, out_size=10)
  assert p.shape == (24, 10, 10, 3) and p.dtype == np.uint8
  assert np.array_equal(p[0], image[0:10, 0:10])
  assert np.array_equal(p[5], image[0:10, 20:30])
  assert np.array_equal(p[6], image[4:14, 0:10])
  assert np.array_equal(p[-1], image[10:20, 20:30])  # Border-aligned row.
  assert D.extract_patches(image, 10, 10, out_size=10).shape[0] == 2 * 3
  assert D.extract_patches(image, 20, 7, out_size=5).shape == (3, 5, 5, 3)


def test_extract_patches_flips():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
  base = D.extract_patches(image, 8, 4, out_size=8)
  assert base.shape[0] == 9
  h = D.extract_patches(image, 8, 4, out_size=8, hflip=True)
  assert h.shape[0] == 18
  assert np.array_equal(h[:9], base) and np.array_equal(h[9:], base[:, :, ::-1])
  v = D.extract_patches(image, 8, 4, out_size=8, vflip=True)
  assert v.shape[0] == 18 and np.array_equal(v[9:], base[:, ::-1])
  hv = D.extract_patches(image, 8, 4, out_size=8, hflip=True, vflip=True)
  assert hv.shape[0] == 36
  assert np.array_equal(hv[27:], base[:, ::-1, ::-1])
  assert not np.array_equal(hv[9:18], base)


def test_extract_patches_gray_resize_and_errors():
  gray = np.tile(np.arange(24, dtype=np.uint8)[None, :] * 10, (24, 1))
  p = D.extract_patches(gray, 12, 6, out_size=64)
  assert p.shape == (9, 64, 64, 3)
  assert np.array_equal(p[..., 0], p[..., 2])
  with pytest.raises(D.DataError, match=r'--window=3: must be at least 4'):
    D.extract_patches(gray, 3, 1)
  with pytest.raises(D.DataError, match=r'--stride=0'):
    D.extract_patches(gray, 8, 0)
  with pytest.raises(D.DataError, match=r'--window=30: larger than the image '
                     r'\(24x24'):
    D.extract_patches(gray, 30, 4)


def test_disk_backgrounds():
  patches = np.full((2, 64, 64, 3), 200, np.uint8)
  patches[1] = 50
  bg = D.disk_backgrounds(patches, radius=20)
  assert bg.shape == patches.shape and bg.dtype == np.uint8
  yy, xx = np.mgrid[0:64, 0:64]
  d2 = (yy - 31.5) ** 2 + (xx - 31.5) ** 2
  assert (bg[:, d2 <= 400] == 0).all()
  assert np.array_equal(bg[:, d2 > 400], patches[:, d2 > 400])
  assert bg[0, 31, 31, 0] == 0 and bg[0, 31, 9, 0] == 200  # 22.5 px away.
  assert (patches == 200).sum() == 64 * 64 * 3  # Input untouched.
  assert (D.disk_backgrounds(patches, radius=None) == 0).all()
  assert (D.disk_backgrounds(patches, mode='black') == 0).all()
