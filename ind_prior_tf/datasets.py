"""Data readers and data preparation for ind-prior-tf.

This is the only module of the library that touches files on disk.

* Raw readers (pure numpy / PIL): ``load_image_rgb``, ``load_mask``,
  ``read_cub``, ``read_celeba``, ``list_images``.
* Cropping: ``crop_box`` (box crop + resize, paper: "crop images using
  provided bounding boxes ... scaled to 128 x 128"), ``crop_examples``.
* Prepared sets (TFRecord shards + ``meta.json``): ``write_prepared``,
  ``prepare_set``, ``read_meta``, ``prepared_dataset`` (tf.data),
  ``load_prepared_arrays`` (numpy, everything in memory).
* Background pools: ``background_patches``, ``outside_box_patches``,
  ``save_pool``, ``load_pool``.
* HOC patches: ``extract_patches``, ``disk_backgrounds``, ``as_rgb_uint8``.

Conventions: images in memory are uint8 HxWx3 RGB; masks are float32 in
[0, 1]; in tf.data images are float32 in [0, 1] and masks float32 HxWx1.
Every bad-input problem raises ``DataError`` (a ``ValueError``) with a
one-line message naming the file or flag.  Per-item problems that can be
skipped are recorded in a ``SkipLog`` and summarised with absl logging.

TensorFlow is imported lazily, only by the TFRecord writer and readers.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import io
import json
import math
import os
import re
import shutil
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
from absl import logging
from PIL import Image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
SHARD_SIZE = 1000
META_FILE = 'meta.json'
SKIPPED_FILE = 'skipped.txt'
FORMAT_VERSION = 1
_SHARD_RE = re.compile(r'^data-(\d{5})-of-(\d{5})\.tfrecord$')


class DataError(ValueError):
  """Bad input data or flags; the message is one line naming the file."""


class EmptyBoxError(DataError):
  """A box is outside the image or has zero area after clipping."""


@dataclasses.dataclass(frozen=True)
class Record:
  """One annotated image.

  box: (x, y, w, h) in pixels, CUB convention: the box covers the columns
  [x, x + w) and rows [y, y + h) of the image (0-based).
  """
  id: int
  image_path: str
  box: tuple
  is_train: bool
  mask_path: Optional[str] = None


class SkipLog:
  """Skipped items with reasons; ``total`` is the number of items seen."""

  def __init__(self, total: int = 0):
    self.items = []  # list of (item, reason, detail)
    self.total = total

  def add(self, item, reason: str, detail: str = '') -> None:
    self.items.append((str(item), reason, detail))
    logging.debug('skipping %s: %s%s', item, reason,
                  f' ({detail})' if detail else '')

  def __len__(self) -> int:
    return len(self.items)

  def counts(self) -> dict:
    return dict(collections.Counter(r for _, r, _ in self.items))

  def summary(self, what: str = 'images') -> str:
    if not self.items:
      return f'skipped 0 of {self.total} {what}'
    parts = ', '.join(f'{n} {r}' for r, n in
                      sorted(self.counts().items(), key=lambda kv: -kv[1]))
    return f'skipped {len(self.items)} of {self.total} {what}: {parts}'

  def log_summary(self, what: str = 'images') -> None:
    if self.items:
      logging.warning('%s', self.summary(what))
    else:
      logging.info('%s', self.summary(what))

  def write(self, path: str) -> None:
    with open(path, 'w') as f:
      for item, reason, detail in self.items:
        f.write(f'{item}\t{reason}\t{detail}\n')


class RecordList(list):
  """A list of Records with a ``skipped`` SkipLog attached."""

  def __init__(self, records=(), skipped: Optional[SkipLog] = None):
    super().__init__(records)
    self.skipped = skipped if skipped is not None else SkipLog(len(self))


# --------------------------------------------------------------------------
# Images and masks.


def _short_exc(e: BaseException) -> str:
  msg = str(e).splitlines()[0] if str(e) else ''
  return f'{type(e).__name__}: {msg}' if msg else type(e).__name__


def _open_image(path: str) -> Image.Image:
  if not os.path.isfile(path):
    raise DataError(f'{path}: missing image file')
  try:
    im = Image.open(path)
    im.load()  # Raises on truncated files (LOAD_TRUNCATED_IMAGES is False).
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
          EOFError) as e:
    raise DataError(f'{path}: unreadable image ({_short_exc(e)})') from None
  return im


def _wide_to_uint8(im: Image.Image) -> np.ndarray:
  """16-bit ('I;16*') or 32-bit ('I', 'F') single channel -> uint8 HxW."""
  a = np.asarray(im).astype(np.float64)
  if im.mode.startswith('I;16') or (a.size and a.min() >= 0 and
                                    a.max() <= 65535 and im.mode == 'I'):
    a = a / 257.0  # Full 16-bit range -> 8-bit.
  else:
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
    a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
  return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
  mode = im.mode
  if mode == 'RGB':
    return np.asarray(im, dtype=np.uint8).copy()
  if mode.startswith('I') or mode == 'F':
    g = _wide_to_uint8(im)
    return np.repeat(g[:, :, None], 3, axis=2)
  if mode == 'P':
    im = im.convert('RGBA') if 'transparency' in im.info else im.convert('RGB')
    mode = im.mode
  if mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La'):
    rgba = np.asarray(im.convert('RGBA'), dtype=np.float32)
    alpha = rgba[:, :, 3:4] / 255.0
    # Composite on black (alpha dropped).
    return np.clip(np.round(rgba[:, :, :3] * alpha), 0, 255).astype(np.uint8)
  # L, 1, CMYK, YCbCr, LAB, HSV, ...
  return np.asarray(im.convert('RGB'), dtype=np.uint8).copy()


def load_image_rgb(path: str) -> np.ndarray:
  """Reads an image file as uint8 HxWx3 RGB.

  Grayscale (L, 1), palette (P), CMYK, YCbCr -> RGB by PIL; images with
  alpha (RGBA, LA, P with transparency) are composited on black and the alpha
  is dropped; 16-bit grayscale ('I;16') is scaled by the 16-bit range
  (value / 257), other 32-bit modes by their min..max range.  EXIF
  orientation is NOT applied (annotation boxes refer to stored pixels).
  Truncated files and non-image bytes raise DataError("<path>: unreadable
  image (...)").
  """
  path = os.fspath(path)
  im = _open_image(path)
  try:
    rgb = _pil_to_rgb(im)
  except (OSError, ValueError) as e:
    raise DataError(f'{path}: unreadable image ({_short_exc(e)})') from None
  if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
    raise DataError(f'{path}: unreadable image (decoded shape {rgb.shape})')
  return rgb


def load_mask(path: str) -> np.ndarray:
  """Reads a mask image ({0,255} PNG) as float32 HxW in [0, 1] (no threshold).

  Color masks are converted to grayscale; an alpha channel is ignored.
  """
  path = os.fspath(path)
  im = _open_image(path)
  try:
    if im.mode.startswith('I') or im.mode == 'F':
      g = _wide_to_uint8(im)
    elif im.mode == '1':
      g = np.asarray(im.convert('L'), dtype=np.uint8)
    else:
      g = np.asarray(im.convert('L'), dtype=np.uint8)
  except (OSError, ValueError) as e:
    raise DataError(f'{path}: unreadable mask ({_short_exc(e)})') from None
  return g.astype(np.float32) / 255.0


def load_image_spec(spec: str) -> np.ndarray:
  """A path, or skimage:<name> for a sample bundled with scikit-image (offline) -> uint8 HxWx3.

  Grayscale samples such as coins are repeated to three channels.  Errors name the --image flag.
  """
  if not spec.startswith('skimage:'):
    return load_image_rgb(spec)
  name = spec.split(':', 1)[1]
  try:
    import skimage.data  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f'--image={spec}: scikit-image not available ({e})') from None
  fn = getattr(skimage.data, name, None)
  if not callable(fn) or name.startswith('_'):
    raise DataError(f'--image={spec}: no sample image {name!r} in skimage.data')
  try:
    image = fn()
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f'--image={spec}: cannot load ({type(e).__name__}: {e})') from None
  return as_rgb_uint8(image, name=f'--image={spec}')


def as_rgb_uint8(image: np.ndarray, name: str = 'image') -> np.ndarray:
  """Array (HxW gray, HxWx1, HxWx3, HxWx4; uint8/uint16/bool/float) -> uint8 HxWx3.

  Floats are assumed in [0, 1] when their max is <= 1, else in [0, 255].
  uint16 is scaled by 1/257.  A 4th (alpha) channel is dropped.
  """
  a = np.asarray(image)
  if a.ndim == 2:
    a = a[:, :, None]
  if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
    raise DataError(f'{name}: expected HxW, HxWx1, HxWx3 or HxWx4, got {a.shape}')
  if a.shape[2] == 1:
    a = np.repeat(a, 3, axis=2)
  elif a.shape[2] == 4:
    a = a[:, :, :3]
  if a.dtype == np.uint8:
    return np.ascontiguousarray(a)
  if a.dtype == np.bool_:
    return a.astype(np.uint8) * 255
  if a.dtype == np.uint16:
    return np.round(a / 257.0).astype(np.uint8)
  a = a.astype(np.float64)
  if np.issubdtype(image.dtype, np.floating) and a.size and a.max() <= 1.0:
    a = a * 255.0
  return np.clip(np.round(a), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# List-file readers.


def _read_table(path: str, ncols: int, what: str) -> dict:
  """'<id> <v1> ... ' lines -> {id: [str,...]} (exactly ncols values)."""
  if not os.path.isfile(path):
    raise DataError(what)
  table = {}
  with open(path, 'r', encoding='utf-8', errors='replace') as f:
    for lineno, line in enumerate(f, 1):
      parts = line.split()
      if not parts:
        continue
      if len(parts) != ncols + 1:
        raise DataError(f'{path}:{lineno}: expected {ncols + 1} fields, got '
                        f'{len(parts)}: {line.strip()[:80]!r}')
      try:
        key = int(parts[0])
      except ValueError:
        raise DataError(f'{path}:{lineno}: bad image id {parts[0]!r}') from None
      if key in table:
        raise DataError(f'{path}:{lineno}: duplicate image id {key}')
      table[key] = parts[1:]
  return table


def _floats(path: str, key, values) -> tuple:
  try:
    out = tuple(float(v) for v in values)
  except ValueError:
    raise DataError(f'{path}: bad numbers for image {key}: {values}') from None
  if not all(math.isfinite(v) for v in out):
    raise DataError(f'{path}: non-finite numbers for image {key}: {values}')
  return out


_CUB_LAYOUT = ('expected CUB-200-2011 layout: images.txt, bounding_boxes.txt, '
               'train_test_split.txt, images/')


def read_cub(root: str, require_masks: bool = False) -> RecordList:
  """Reads a CUB-200-2011 style directory (also the Weizmann horse set).

  Files: images.txt (`<id> <rel path>`), bounding_boxes.txt
  (`<id> <x> <y> <w> <h>`), train_test_split.txt (`<id> <0|1>`),
  images/<rel>, and, when present, segmentations/<rel with .png>.
  Missing list files / images dir -> DataError.  Per-id problems (id missing
  from bounding_boxes.txt or train_test_split.txt, missing image file, no
  mask with require_masks) are counted skips in ``result.skipped``.
  """
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise DataError(f'{root}: missing directory ({_CUB_LAYOUT})')
  names = {}
  for name in ('images.txt', 'bounding_boxes.txt', 'train_test_split.txt'):
    p = os.path.join(root, name)
    if not os.path.isfile(p):
      raise DataError(f'{p}: missing ({_CUB_LAYOUT})')
    names[name] = p
  images_dir = os.path.join(root, 'images')
  if not os.path.isdir(images_dir):
    raise DataError(f'{images_dir}: missing directory ({_CUB_LAYOUT})')
  seg_dir = os.path.join(root, 'segmentations')
  has_seg_dir = os.path.isdir(seg_dir)

  images = _read_table(names['images.txt'], 1, names['images.txt'])
  boxes = _read_table(names['bounding_boxes.txt'], 4, names['bounding_boxes.txt'])
  split = _read_table(names['train_test_split.txt'], 1,
                      names['train_test_split.txt'])
  if not images:
    raise DataError(f"{names['images.txt']}: no images listed")

  skipped = SkipLog(total=len(images))
  for key in sorted(set(boxes) - set(images)):
    logging.warning('%s: id %d not in images.txt (ignored)',
                    names['bounding_boxes.txt'], key)
  records = []
  for key in sorted(images):
    rel = images[key][0]
    if key not in boxes:
      skipped.add(rel, 'not in bounding_boxes.txt', f'id {key}')
      continue
    if key not in split:
      skipped.add(rel, 'not in train_test_split.txt', f'id {key}')
      continue
    box = _floats(names['bounding_boxes.txt'], key, boxes[key])
    flag = split[key][0]
    if flag not in ('0', '1'):
      raise DataError(f"{names['train_test_split.txt']}: bad split flag "
                      f'{flag!r} for image {key} (expected 0 or 1)')
    image_path = os.path.join(images_dir, rel)
    if not os.path.isfile(image_path):
      skipped.add(image_path, 'missing file', f'id {key}')
      continue
    mask_path = None
    if has_seg_dir:
      candidate = os.path.join(seg_dir, os.path.splitext(rel)[0] + '.png')
      if os.path.isfile(candidate):
        mask_path = candidate
    if require_masks and mask_path is None:
      skipped.add(image_path, 'no mask', f'id {key}')
      continue
    records.append(Record(id=key, image_path=image_path, box=box,
                          is_train=(flag == '1'), mask_path=mask_path))
  if len(skipped):
    skipped.log_summary('images')
  if not records:
    raise DataError(f'{root}: no usable images ({skipped.summary()})')
  return RecordList(records, skipped)


def read_celeba(root: str) -> RecordList:
  """Reads a CelebA directory: list_bbox_celeba.txt + img_celeba/.

  list_bbox_celeba.txt: line 1 = count, line 2 = header
  `image_id x_1 y_1 width height`, then `000001.jpg 95 71 226 313`.
  Optional list_eval_partition.txt (`000001.jpg 0`; 0 train, 1 val,
  2 test): is_train = (partition == 0); absent -> all train.  The record id
  is the numeric file stem (000001.jpg -> 1).  No masks.
  """
  root = os.fspath(root)
  layout = 'expected CelebA layout: list_bbox_celeba.txt, img_celeba/'
  if not os.path.isdir(root):
    raise DataError(f'{root}: missing directory ({layout})')
  bbox_path = os.path.join(root, 'list_bbox_celeba.txt')
  img_dir = os.path.join(root, 'img_celeba')
  if not os.path.isfile(bbox_path):
    raise DataError(f'{bbox_path}: missing ({layout})')
  if not os.path.isdir(img_dir):
    raise DataError(f'{img_dir}: missing directory ({layout})')
  with open(bbox_path, 'r', encoding='utf-8', errors='replace') as f:
    lines = f.read().splitlines()
  if len(lines) < 2:
    raise DataError(f'{bbox_path}: expected a count line and a header line')
  try:
    declared = int(lines[0].split()[0])
  except (ValueError, IndexError):
    raise DataError(f'{bbox_path}:1: expected the image count, got '
                    f'{lines[0][:80]!r}') from None
  header = lines[1].split()
  if header[:1] != ['image_id'] or len(header) != 5:
    raise DataError(f'{bbox_path}:2: expected header `image_id x_1 y_1 width '
                    f'height`, got {lines[1][:80]!r}')
  entries = []
  seen = set()
  for lineno, line in enumerate(lines[2:], 3):
    parts = line.split()
    if not parts:
      continue
    if len(parts) != 5:
      raise DataError(f'{bbox_path}:{lineno}: expected 5 fields, got '
                      f'{len(parts)}: {line.strip()[:80]!r}')
    if parts[0] in seen:
      raise DataError(f'{bbox_path}:{lineno}: duplicate image {parts[0]}')
    seen.add(parts[0])
    entries.append((parts[0], _floats(f'{bbox_path}:{lineno}', parts[0],
                                      parts[1:])))
  if not entries:
    raise DataError(f'{bbox_path}: no images listed')
  if declared != len(entries):
    logging.warning('%s: header says %d images, found %d lines', bbox_path,
                    declared, len(entries))

  part_path = os.path.join(root, 'list_eval_partition.txt')
  partition = None
  if os.path.isfile(part_path):
    partition = {}
    with open(part_path, 'r', encoding='utf-8', errors='replace') as f:
      for lineno, line in enumerate(f, 1):
        parts = line.split()
        if not parts:
          continue
        if len(parts) != 2 or parts[1] not in ('0', '1', '2'):
          raise DataError(f'{part_path}:{lineno}: expected `<file> <0|1|2>`, '
                          f'got {line.strip()[:80]!r}')
        partition[parts[0]] = int(parts[1])

  skipped = SkipLog(total=len(entries))
  records = []
  for index, (name, box) in enumerate(entries, 1):
    stem = os.path.splitext(name)[0]
    key = int(stem) if stem.isdigit() else index
    image_path = os.path.join(img_dir, name)
    if partition is not None and name not in partition:
      skipped.add(image_path, 'not in list_eval_partition.txt')
      continue
    if not os.path.isfile(image_path):
      skipped.add(image_path, 'missing file')
      continue
    is_train = True if partition is None else partition[name] == 0
    records.append(Record(id=key, image_path=image_path, box=box,
                          is_train=is_train, mask_path=None))
  if len(skipped):
    skipped.log_summary('images')
  if not records:
    raise DataError(f'{root}: no usable images ({skipped.summary()})')
  return RecordList(records, skipped)


def list_images(folder: str) -> list:
  """Sorted paths of *.jpg/jpeg/png/bmp (case-insensitive) directly in folder."""
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    raise DataError(f'{folder}: missing image directory')
  paths = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                 if n.lower().endswith(IMAGE_EXTENSIONS) and
                 os.path.isfile(os.path.join(folder, n)))
  if not paths:
    raise DataError(f'{folder}: no images (*.jpg, *.jpeg, *.png, *.bmp)')
  return paths


# --------------------------------------------------------------------------
# Cropping.


def _clip_box(box, width: int, height: int, name: str = 'box'):
  """(x, y, w, h) -> integer (x0, y0, x1, y1) clipped to the image."""
  x, y, w, h = (float(v) for v in box)
  if not (w > 0 and h > 0):
    raise EmptyBoxError(f'{name}: empty box {tuple(box)} (zero area)')
  x0 = max(0, int(math.floor(x)))
  y0 = max(0, int(math.floor(y)))
  x1 = min(width, int(math.ceil(x + w)))
  y1 = min(height, int(math.ceil(y + h)))
  if x1 <= x0 or y1 <= y0:
    raise EmptyBoxError(f'{name}: box {tuple(box)} is outside the '
                        f'{width}x{height} image')
  return x0, y0, x1, y1


def _resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
  if image.shape[0] == size and image.shape[1] == size:
    return image.copy()
  im = Image.fromarray(image, 'RGB').resize((size, size), Image.BILINEAR)
  return np.asarray(im, dtype=np.uint8)


def _resize_float(mask: np.ndarray, size: int) -> np.ndarray:
  if mask.shape[0] == size and mask.shape[1] == size:
    return mask.astype(np.float32)
  im = Image.fromarray(mask.astype(np.float32), 'F').resize((size, size),
                                                            Image.BILINEAR)
  return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)


def crop_box(image: np.ndarray, box, size: int, mask: Optional[np.ndarray] = None,
             name: str = 'box'):
  """Crops by box (x, y, w, h), clipped to the image, resized to size x size.

  Returns (uint8 [size,size,3], float32 [size,size] mask or None).  Raises
  EmptyBoxError if the box has zero area or lies fully outside the image.
  Images use PIL bilinear; masks bilinear in float (values stay in [0, 1]).
  """
  image = np.asarray(image)
  h, w = image.shape[:2]
  x0, y0, x1, y1 = _clip_box(box, w, h, name)
  out = _resize_rgb(np.ascontiguousarray(image[y0:y1, x0:x1]), size)
  out_mask = None
  if mask is not None:
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 3:
      mask = mask[:, :, 0]
    if mask.shape != (h, w):
      raise DataError(f'{name}: mask shape {mask.shape} != image shape {(h, w)}')
    out_mask = _resize_float(mask[y0:y1, x0:x1], size)
  return out, out_mask


def crop_examples(records: Iterable[Record], size: int,
                  skipped: Optional[SkipLog] = None) -> Iterator[dict]:
  """Yields {'image', 'mask' (float32 HxW or None), 'id', 'is_train'}.

  Unreadable images, empty boxes, unreadable or mis-sized masks are
  recorded in ``skipped`` and the item is left out.
  """
  if skipped is None:
    skipped = SkipLog()
  for rec in records:
    try:
      image = load_image_rgb(rec.image_path)
    except DataError as e:
      skipped.add(rec.image_path, 'unreadable', str(e))
      continue
    mask = None
    if rec.mask_path is not None:
      try:
        mask = load_mask(rec.mask_path)
      except DataError as e:
        skipped.add(rec.image_path, 'unreadable mask', str(e))
        continue
      if mask.shape != image.shape[:2]:
        skipped.add(rec.image_path, 'mask size mismatch',
                    f'{rec.mask_path}: {mask.shape} vs image {image.shape[:2]}')
        continue
    try:
      crop, crop_mask = crop_box(image, rec.box, size, mask, name=rec.image_path)
    except EmptyBoxError as e:
      skipped.add(rec.image_path, 'empty box', str(e))
      continue
    yield {'image': crop, 'mask': crop_mask, 'id': int(rec.id),
           'is_train': bool(rec.is_train)}


# --------------------------------------------------------------------------
# Prepared sets: TFRecord shards + meta.json.


def _png_bytes(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format='PNG', compress_level=3)
  return buf.getvalue()


def _mask_to_uint8(mask: np.ndarray) -> np.ndarray:
  m = np.asarray(mask, dtype=np.float32)
  if m.ndim == 3:
    m = m[:, :, 0]
  return np.clip(np.round(m * 255.0), 0, 255).astype(np.uint8)


def check_out_dir(out_dir: str, overwrite: bool = False) -> None:
  """DataError if out_dir is a file, or a non-empty dir and not overwrite."""
  out_dir = os.path.normpath(os.fspath(out_dir))
  if os.path.exists(out_dir):
    if not os.path.isdir(out_dir):
      raise DataError(f'{out_dir}: exists and is not a directory')
    if os.listdir(out_dir) and not overwrite:
      raise DataError(f'{out_dir}: exists and is not empty (pass --overwrite '
                      'to replace it)')


def write_prepared(out_dir: str, examples_iter: Iterable[dict], size: int,
                   source: str, overwrite: bool = False,
                   skipped: Optional[SkipLog] = None,
                   shard_size: int = SHARD_SIZE) -> dict:
  """Writes a prepared set and returns its meta dict.

  examples: dicts {'image': uint8 [size,size,3], 'mask': float [size,size]
  (or [size,size,1]) or None, 'id': int, 'is_train': bool}.  Shards are
  written into `<out_dir>.tmp-<pid>` and renamed to out_dir at the end; an
  existing non-empty out_dir is refused (DataError) unless overwrite=True.
  With `skipped`, its list is written to skipped.txt.  Zero examples ->
  DataError and nothing is written.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  out_dir = os.path.normpath(os.fspath(out_dir))
  size = int(size)
  check_out_dir(out_dir, overwrite)
  tmp_dir = f'{out_dir}.tmp-{os.getpid()}'
  if os.path.exists(tmp_dir):
    shutil.rmtree(tmp_dir)
  os.makedirs(tmp_dir)
  try:
    count = n_train = n_masks = 0
    shard_paths = []
    writer = None

    def feat_int(v):
      return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    def feat_bytes(v):
      return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    for ex in examples_iter:
      image = np.asarray(ex['image'])
      if image.dtype != np.uint8 or image.shape != (size, size, 3):
        raise DataError(f'example {ex.get("id")}: image must be uint8 '
                        f'{(size, size, 3)}, got {image.dtype} {image.shape}')
      if writer is None or count % shard_size == 0:
        if writer is not None:
          writer.close()
        shard_paths.append(os.path.join(tmp_dir,
                                        f'data-{len(shard_paths):05d}.partial'))
        writer = tf.io.TFRecordWriter(shard_paths[-1])
      mask = ex.get('mask')
      has_mask = mask is not None
      feature = {
          'image': feat_bytes(_png_bytes(image)),
          'has_mask': feat_int(int(has_mask)),
          'id': feat_int(ex['id']),
          'is_train': feat_int(int(bool(ex['is_train']))),
      }
      if has_mask:
        m = _mask_to_uint8(mask)
        if m.shape != (size, size):
          raise DataError(f'example {ex.get("id")}: mask must be {(size, size)},'
                          f' got {m.shape}')
        feature['mask'] = feat_bytes(_png_bytes(m))
        n_masks += 1
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=feature)).SerializeToString())
      count += 1
      n_train += int(bool(ex['is_train']))
    if writer is not None:
      writer.close()
    if count == 0:
      detail = f' ({skipped.summary()})' if skipped is not None else ''
      raise DataError(f'{out_dir}: no usable examples to write{detail}')
    k = len(shard_paths)
    shard_names = []
    for i, p in enumerate(shard_paths):
      name = f'data-{i:05d}-of-{k:05d}.tfrecord'
      os.rename(p, os.path.join(tmp_dir, name))
      shard_names.append(name)
    meta = {
        'format_version': FORMAT_VERSION,
        'size': size,
        'count': count,
        'has_masks': n_masks > 0,
        'mask_count': n_masks,
        'source': str(source),
        'splits': {'train': n_train, 'test': count - n_train},
        'shards': shard_names,
        'skipped': len(skipped) if skipped is not None else 0,
    }
    with open(os.path.join(tmp_dir, META_FILE), 'w') as f:
      json.dump(meta, f, indent=2)
      f.write('\n')
    if skipped is not None:
      skipped.write(os.path.join(tmp_dir, SKIPPED_FILE))
    # Swap in atomically (re-check: someone may have created it meanwhile).
    check_out_dir(out_dir, overwrite)
    old = None
    if os.path.exists(out_dir):
      old = f'{out_dir}.old-{os.getpid()}'
      os.rename(out_dir, old)
    os.rename(tmp_dir, out_dir)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise
  return meta


def prepare_set(records: Sequence[Record], out_dir: str, size: int,
                source: str, overwrite: bool = False) -> dict:
  """Crops records (skipping bad items) and writes a prepared set.

  Skips from reading (``records.skipped`` when present) and from cropping
  are combined, summarised in the log and written to skipped.txt.  Returns
  meta (with meta['skipped_summary']).
  """
  out_dir = os.fspath(out_dir)
  check_out_dir(os.path.normpath(out_dir), overwrite)  # Fail before work.
  skipped = getattr(records, 'skipped', None)
  if skipped is None:
    skipped = SkipLog(total=len(records))
  meta = write_prepared(out_dir, crop_examples(records, size, skipped), size,
                        source, overwrite=overwrite, skipped=skipped)
  skipped.log_summary('images')
  meta['skipped_summary'] = skipped.summary('images')
  return meta


def read_meta(prep_dir: str) -> dict:
  """Reads <prep_dir>/meta.json (DataError if missing or malformed)."""
  prep_dir = os.fspath(prep_dir)
  path = os.path.join(prep_dir, META_FILE)
  if not os.path.isfile(path):
    raise DataError(f'{path}: missing; run `make cub-prep` (python -m '
                    'data_prep.cub) first')
  try:
    with open(path) as f:
      meta = json.load(f)
    size, count = int(meta['size']), int(meta['count'])
    meta['splits']['train'], meta['splits']['test']  # pylint: disable=pointless-statement
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f'{path}: malformed meta.json ({_short_exc(e)})') from None
  if size < 1 or count < 0:
    raise DataError(f'{path}: bad size/count {size}/{count}')
  return meta


def raw_record_index(prep_dir: str, raw_root: Optional[str] = None) -> dict:
  """{id: Record} (image path and box) of the raw set a prepared set was made from.

  The raw set is `raw_root` (read in the layout the prepared set was made from, CUB unless it was
  CelebA) or else the directory meta.json records as its source. A set made from no raw CUB or
  CelebA files, or a missing directory -> DataError.
  """
  meta = read_meta(prep_dir)
  kind, _, root = str(meta.get('source', '')).partition(':')
  if raw_root:
    root, kind = raw_root, (kind if kind in ('cub', 'celeba') else 'cub')
  elif kind not in ('cub', 'celeba'):
    raise DataError(f'{os.path.join(prep_dir, META_FILE)}: made from {meta.get("source")!r}, not '
                    'from raw CUB or CelebA files; pass the raw set\'s directory')
  if not os.path.isdir(root):
    raise DataError(f'{root}: no such directory (the raw images of {prep_dir}); pass the raw '
                    'set\'s directory')
  return {r.id: r for r in (read_cub(root) if kind == 'cub' else read_celeba(root))}


def raw_records(prep_dir: str, ids, raw_root: Optional[str] = None,
                index: Optional[dict] = None) -> list:
  """The raw Records behind a prepared set's examples `ids`, in their order: from `index` (a
  raw_record_index, read once by callers that ask batch after batch) or raw_record_index(prep_dir,
  raw_root). An id absent from the raw set -> DataError.
  """
  if index is None:
    index = raw_record_index(prep_dir, raw_root)
  missing = [int(i) for i in ids if int(i) not in index]
  if missing:
    raise DataError(f'{prep_dir}: no image with id {missing[0]} among the raw images '
                    f'({len(missing)} missing); is the raw set the one it was made from?')
  return [index[int(i)] for i in ids]


def _shard_files(prep_dir: str, meta: dict) -> list:
  files = sorted(glob.glob(os.path.join(glob.escape(prep_dir),
                                        'data-*-of-*.tfrecord')))
  names = [os.path.basename(f) for f in files]
  totals = {int(_SHARD_RE.match(n).group(2)) for n in names if _SHARD_RE.match(n)}
  if not files:
    raise DataError(f'{prep_dir}: no data-*-of-*.tfrecord shards')
  if len(totals) != 1 or len(files) != totals.pop():
    raise DataError(f'{prep_dir}: incomplete shards ({len(files)} files: '
                    f'{names[0]} ... {names[-1]})')
  return files


def _raw_dataset(prep_dir: str, split: str, with_masks: bool,
                 only_with_masks: bool):
  """Dataset of dicts with uint8 'image' [S,S,3] / 'mask' [S,S,1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if split not in ('all', 'train', 'test'):
    raise DataError(f"split={split!r}: expected 'all', 'train' or 'test'")
  prep_dir = os.fspath(prep_dir)
  meta = read_meta(prep_dir)
  size = int(meta['size'])
  files = _shard_files(prep_dir, meta)
  with_masks = with_masks or only_with_masks
  spec = {
      'image': tf.io.FixedLenFeature([], tf.string),
      'mask': tf.io.FixedLenFeature([], tf.string, default_value=b''),
      'has_mask': tf.io.FixedLenFeature([], tf.int64, default_value=0),
      'id': tf.io.FixedLenFeature([], tf.int64),
      'is_train': tf.io.FixedLenFeature([], tf.int64),
  }
  ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
  ds = ds.map(lambda s: tf.io.parse_single_example(s, spec),
              num_parallel_calls=tf.data.AUTOTUNE)
  if split == 'train':
    ds = ds.filter(lambda e: tf.equal(e['is_train'], 1))
  elif split == 'test':
    ds = ds.filter(lambda e: tf.equal(e['is_train'], 0))
  if only_with_masks:
    ds = ds.filter(lambda e: tf.equal(e['has_mask'], 1))

  def decode(e):
    image = tf.ensure_shape(tf.io.decode_png(e['image'], channels=3),
                            [size, size, 3])
    out = {'image': image, 'has_mask': tf.equal(e['has_mask'], 1),
           'id': e['id']}
    if with_masks:
      mask = tf.cond(
          out['has_mask'],
          lambda: tf.io.decode_png(e['mask'], channels=1),
          lambda: tf.zeros([size, size, 1], tf.uint8))
      out['mask'] = tf.ensure_shape(mask, [size, size, 1])
    return out

  return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE), meta


def prepared_dataset(prep_dir: str, split: str = 'all', with_masks: bool = False,
                     only_with_masks: bool = False):
  """tf.data.Dataset of dicts from a prepared set.

  Keys: 'image' float32 [S,S,3] in [0,1]; 'has_mask' bool; 'id' int64; and,
  with with_masks=True (implied by only_with_masks), 'mask' float32 [S,S,1]
  in [0,1] (zeros where has_mask is False).  split: 'all', 'train' (is_train
  == 1) or 'test'.  Not shuffled, not batched, not repeated.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  ds, _ = _raw_dataset(prep_dir, split, with_masks, only_with_masks)

  def to_float(e):
    out = dict(e)
    out['image'] = tf.cast(e['image'], tf.float32) / 255.0
    if 'mask' in e:
      out['mask'] = tf.cast(e['mask'], tf.float32) / 255.0
    return out

  return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)


def load_prepared_arrays(prep_dir: str, split: str = 'all',
                         only_with_masks: bool = False) -> dict:
  """Loads a (small) prepared set into memory.

  Returns {'images': uint8 [N,S,S,3], 'masks': float32 [N,S,S,1] (zeros where
  no mask), 'has_mask': bool [N], 'ids': int64 [N]} in shard order.  An empty
  selection gives N = 0 arrays.
  """
  ds, meta = _raw_dataset(prep_dir, split, True, only_with_masks)
  s = int(meta['size'])
  images, masks, has_mask, ids = [], [], [], []
  for b in ds.batch(256).as_numpy_iterator():
    images.append(b['image'])
    masks.append(b['mask'])
    has_mask.append(b['has_mask'])
    ids.append(b['id'])
  if not images:
    return {'images': np.zeros((0, s, s, 3), np.uint8),
            'masks': np.zeros((0, s, s, 1), np.float32),
            'has_mask': np.zeros((0,), bool), 'ids': np.zeros((0,), np.int64)}
  return {
      'images': np.concatenate(images).astype(np.uint8),
      'masks': np.concatenate(masks).astype(np.float32) / 255.0,
      'has_mask': np.concatenate(has_mask).astype(bool),
      'ids': np.concatenate(ids).astype(np.int64),
  }


# --------------------------------------------------------------------------
# Background pools.


def _check_pool_args(size, count, min_scale, max_scale):
  if int(size) < 1:
    raise DataError(f'--size={size}: must be >= 1')
  if int(count) < 1:
    raise DataError(f'--count={count}: must be >= 1')
  if not 0 < min_scale <= max_scale <= 1:
    raise DataError(f'min_scale={min_scale}, max_scale={max_scale}: need '
                    '0 < min_scale <= max_scale <= 1')


def _fill_patches(sources, count: int, rng, sample_fn, loader, size: int,
                  skipped: SkipLog) -> np.ndarray:
  """Assigns `count` patches to sources at random; unreadable sources are
  skipped and their patches reassigned.  sample_fn(image, rng) -> HxWx3."""
  out = np.zeros((count, size, size, 3), np.uint8)
  good = list(range(len(sources)))
  todo = np.arange(count)
  bad = set()
  while len(todo):
    if not good:
      raise DataError(f'no readable images among {len(sources)} ({skipped.summary()})')
    assign = np.asarray(good)[rng.integers(len(good), size=len(todo))]
    failed = []
    for src in np.unique(assign):
      slots = todo[assign == src]
      try:
        image = loader(sources[src])
      except DataError as e:
        skipped.add(getattr(sources[src], 'image_path', sources[src]),
                    'unreadable', str(e))
        bad.add(int(src))
        failed.extend(slots.tolist())
        continue
      for slot in slots:
        out[slot] = sample_fn(src, image, rng)
    good = [g for g in good if g not in bad]
    todo = np.asarray(sorted(failed), dtype=np.int64)
  return out


def background_patches(image_paths: Sequence[str], size: int, count: int,
                       seed: int, min_scale: float = 0.3,
                       max_scale: float = 1.0) -> np.ndarray:
  """Random square crops of natural images, resized: uint8 [count,size,size,3].

  Each patch picks an image uniformly at random, a side of
  uniform(min_scale, max_scale) * the image's short side and a uniform
  position.  Unreadable files are skipped (counted warning); deterministic
  for a seed.  No images / no readable image -> DataError.
  """
  image_paths = list(image_paths)
  if not image_paths:
    raise DataError('background_patches: no image paths given')
  _check_pool_args(size, count, min_scale, max_scale)
  rng = np.random.default_rng(seed)
  skipped = SkipLog(total=len(image_paths))

  def sample(_, image, rng):
    h, w = image.shape[:2]
    short = min(h, w)
    side = max(1, int(round(rng.uniform(min_scale, max_scale) * short)))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    return _resize_rgb(np.ascontiguousarray(image[y:y + side, x:x + side]), size)

  out = _fill_patches(image_paths, int(count), rng, sample, load_image_rgb,
                      int(size), skipped)
  if len(skipped):
    skipped.log_summary('background images')
  return out


def _outside_regions(box, width: int, height: int, min_side: int):
  """Rectangles (x0, y0, x1, y1) around the box with both sides >= min_side."""
  x0, y0, x1, y1 = _clip_box(box, width, height)
  regions = [(0, 0, x0, height), (x1, 0, width, height),
             (0, 0, width, y0), (0, y1, width, height)]
  return [r for r in regions if r[2] - r[0] >= min_side and r[3] - r[1] >= min_side]


def outside_box_patches(records: Sequence[Record], size: int, count: int,
                        seed: int, max_zoom: Optional[float] = None) -> np.ndarray:
  """Background patches from the dataset images outside their boxes.

  Paper: "sample enough patches without any foreground region from the
  original given images".  The candidate regions of an image are the four
  strips left of / right of / above / below its box; a square patch of side
  uniform in [min side, short side of the strip] is taken from a strip
  (chosen with probability proportional to area) and resized to size.  The
  min side is ceil(size/4) px, and with max_zoom at least (long side of the
  box) / max_zoom: a patch is then magnified at most max_zoom times more than
  its image's box crop is, so the pool is about as sharp as the crops (strips
  beside tight boxes are thin: without it, Weizmann horse patches come out
  ~6x blurrier than the crops, a cue that lets the discriminator ignore the
  masks' shape).  A record whose box leaves no strip of at least the min side
  is skipped (counted warning), as is a record with an empty box; no usable
  record -> DataError.
  """
  records = list(records)
  if not records:
    raise DataError('outside_box_patches: no records given')
  _check_pool_args(size, count, 0.5, 1.0)
  if max_zoom is not None and not max_zoom > 0:
    raise DataError(f'outside_box_patches: max_zoom={max_zoom} must be > 0')
  size, count = int(size), int(count)
  min_side = max(1, int(math.ceil(size / 4)))
  rng = np.random.default_rng(seed)
  skipped = SkipLog(total=len(records))
  usable, regions, min_sides = [], [], []
  for rec in records:
    try:
      with Image.open(rec.image_path) as im:
        width, height = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
      skipped.add(rec.image_path, 'unreadable', _short_exc(e))
      continue
    try:
      need = min_side
      if max_zoom is not None:
        x0, y0, x1, y1 = _clip_box(rec.box, width, height)
        need = max(need, int(math.ceil(max(x1 - x0, y1 - y0) / max_zoom)))
      r = _outside_regions(rec.box, width, height, need)
    except EmptyBoxError as e:
      skipped.add(rec.image_path, 'empty box', str(e))
      continue
    if not r:
      skipped.add(rec.image_path, 'no background region',
                  f'no strip of >= {need} px outside box {rec.box}')
      continue
    usable.append(rec)
    regions.append(r)
    min_sides.append(need)
  if not usable:
    zoom = f' (max_zoom {max_zoom})' if max_zoom is not None else ''
    raise DataError(f'no image has a background region of >= {min_side} px{zoom} '
                    f'outside its box ({skipped.summary()})')

  def sample(src, image, rng):
    rs = [r for r in regions[src]
          if r[2] <= image.shape[1] and r[3] <= image.shape[0]] or regions[src]
    areas = np.asarray([(r[2] - r[0]) * (r[3] - r[1]) for r in rs], np.float64)
    x0, y0, x1, y1 = rs[int(rng.choice(len(rs), p=areas / areas.sum()))]
    short = min(x1 - x0, y1 - y0)
    side = int(rng.integers(min(min_sides[src], short), short + 1))
    y = int(rng.integers(y0, y1 - side + 1))
    x = int(rng.integers(x0, x1 - side + 1))
    return _resize_rgb(np.ascontiguousarray(image[y:y + side, x:x + side]), size)

  out = _fill_patches(usable, count, rng, sample,
                      lambda rec: load_image_rgb(rec.image_path), size, skipped)
  if len(skipped):
    skipped.log_summary('images')
  return out


def save_pool(path: str, patches: np.ndarray) -> None:
  """Writes np.savez_compressed(path, patches=uint8 [N,S,S,3]) atomically."""
  path = os.fspath(path)
  patches = np.asarray(patches)
  if patches.dtype != np.uint8 or patches.ndim != 4 or patches.shape[3] != 3 \
      or patches.shape[0] < 1:
    raise DataError(f'{path}: patches must be uint8 [N,S,S,3] with N >= 1, got '
                    f'{patches.dtype} {patches.shape}')
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise DataError(f'{parent}: output directory does not exist')
  tmp = f'{path}.tmp-{os.getpid()}'
  try:
    with open(tmp, 'wb') as f:
      np.savez_compressed(f, patches=patches)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def load_pool(path: str) -> np.ndarray:
  """Reads a pool written by save_pool: uint8 [N,S,S,3] (DataError if bad)."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise DataError(f'{path}: missing patch pool; run `python -m '
                    'data_prep.backgrounds` first')
  try:
    with np.load(path, allow_pickle=False) as z:
      if 'patches' not in z.files:
        raise DataError(f'{path}: no `patches` array (has {z.files})')
      patches = z['patches']
  except DataError:
    raise
  except Exception as e:  # zipfile.BadZipFile, OSError, ValueError, EOFError...
    raise DataError(f'{path}: corrupt patch pool ({_short_exc(e)})') from None
  if patches.dtype != np.uint8 or patches.ndim != 4 or patches.shape[3] != 3 \
      or patches.shape[0] < 1 or patches.shape[1] != patches.shape[2]:
    raise DataError(f'{path}: expected uint8 [N,S,S,3] patches, got '
                    f'{patches.dtype} {patches.shape}')
  return patches


# --------------------------------------------------------------------------
# HOC patches (one image of a homogeneous object cluster).


def _grid(length: int, window: int, stride: int) -> list:
  starts = list(range(0, length - window + 1, stride))
  if starts[-1] != length - window:
    starts.append(length - window)  # Last window aligned to the border.
  return starts


def extract_patches(image: np.ndarray, window: int, stride: int,
                    out_size: int = 64, hflip: bool = False,
                    vflip: bool = False) -> np.ndarray:
  """All window x window patches on a stride grid, resized to out_size.

  Grid: starts 0, stride, 2*stride, ... <= L - window along each axis, plus
  one extra start at L - window when the grid does not end there, so the
  whole image is covered.  Count per axis: floor((L - window) / stride) + 1,
  + 1 if (L - window) % stride != 0.  Row-major order (y, then x).
  hflip appends left-right flipped copies of all patches (x2); vflip then
  appends up-down flipped copies of everything so far (x2 again): order
  [orig, h] + [v(orig), v(h)].  Returns uint8 [P, out_size, out_size, 3].
  """
  window, stride, out_size = int(window), int(stride), int(out_size)
  if window < 4:
    raise DataError(f'--window={window}: must be at least 4 px')
  if stride < 1:
    raise DataError(f'--stride={stride}: must be at least 1 px')
  if out_size < 1:
    raise DataError(f'--out_size={out_size}: must be at least 1 px')
  image = as_rgb_uint8(image)
  h, w = image.shape[:2]
  if h < window or w < window:
    raise DataError(f'--window={window}: larger than the image ({w}x{h} px, '
                    'width x height)')
  patches = [_resize_rgb(np.ascontiguousarray(image[y:y + window, x:x + window]),
                         out_size)
             for y in _grid(h, window, stride) for x in _grid(w, window, stride)]
  out = np.stack(patches)
  if hflip:
    out = np.concatenate([out, out[:, :, ::-1]])
  if vflip:
    out = np.concatenate([out, out[:, ::-1]])
  return np.ascontiguousarray(out)


def disk_backgrounds(patches: np.ndarray, radius: Optional[float] = 20,
                     mode: str = 'disk') -> np.ndarray:
  """HOC backgrounds: copies of patches with a black disk in the centre.

  Pixels whose centre lies within `radius` (px, at the patch size) of the
  patch centre ((S-1)/2, (S-1)/2) are set to 0; others keep the original.
  radius=None or mode='black' -> all black.
  """
  patches = np.asarray(patches)
  if patches.ndim != 4:
    raise DataError(f'patches: expected [N,H,W,C], got {patches.shape}')
  if mode not in ('disk', 'black'):
    raise DataError(f"mode={mode!r}: expected 'disk' or 'black'")
  if radius is None or mode == 'black':
    return np.zeros_like(patches)
  if radius < 0:
    raise DataError(f'--disk_radius={radius}: must be >= 0')
  h, w = patches.shape[1:3]
  yy, xx = np.mgrid[0:h, 0:w]
  inside = (yy - (h - 1) / 2.0) ** 2 + (xx - (w - 1) / 2.0) ** 2 <= radius ** 2
  out = patches.copy()
  out[:, inside] = 0
  return out
