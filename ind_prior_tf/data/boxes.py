"""Boxes and crops: the one clip of a box to an image, and box crops resized to a square.

Paper: "crop images using provided bounding boxes ... scaled to 128 x 128". A box is (x, y, w, h) in
pixels, CUB convention: it covers the columns [x, x + w) and rows [y, y + h) of the image (0-based).
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator, Optional

import numpy as np
from PIL import Image

from ind_prior_tf.data.images import load_image_rgb, load_mask
from ind_prior_tf.data.raw import Record
from ind_prior_tf.data.skips import SkipLog
from ind_prior_tf.errors import DataError, EmptyBoxError


def clip_box(box, width: int, height: int, name: str = "box"):
  """(x, y, w, h) in pixels -> integer (x0, y0, x1, y1) clipped to the image.

  The box covers columns [x, x + w) and rows [y, y + h); fractional edges are widened outwards. The
  training crops, segmenting files and GrabCut all clip through here, so they agree on every pixel.
  Raises EmptyBoxError for a zero-area or non-finite box, or one outside the image.
  """
  x, y, w, h = (float(v) for v in box)
  if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
    raise EmptyBoxError(f"{name}: empty box {tuple(box)} (zero area)")
  x0 = max(0, int(math.floor(x)))
  y0 = max(0, int(math.floor(y)))
  x1 = min(width, int(math.ceil(x + w)))
  y1 = min(height, int(math.ceil(y + h)))
  if x1 <= x0 or y1 <= y0:
    raise EmptyBoxError(f"{name}: box {tuple(box)} is outside the "
                        f"{width}x{height} image")
  return x0, y0, x1, y1


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
  """uint8 HxWx3 -> uint8 size x size x 3, PIL bilinear (a copy at that size)."""
  if image.shape[0] == size and image.shape[1] == size:
    return image.copy()
  im = Image.fromarray(image, "RGB").resize((size, size), Image.BILINEAR)
  return np.asarray(im, dtype=np.uint8)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
  """float HxW in [0, 1] -> float32 size x size, PIL bilinear in float, clipped to [0, 1]."""
  if mask.shape[0] == size and mask.shape[1] == size:
    return mask.astype(np.float32)
  im = Image.fromarray(mask.astype(np.float32), "F").resize((size, size),
                                                            Image.BILINEAR)
  return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)


def crop_box(image: np.ndarray, box, size: int, mask: Optional[np.ndarray] = None,
             name: str = "box"):
  """Crops by box (x, y, w, h), clipped to the image, resized to size x size.

  Returns (uint8 [size,size,3], float32 [size,size] mask or None).  Raises
  EmptyBoxError if the box has zero area or lies fully outside the image.
  Images use PIL bilinear; masks bilinear in float (values stay in [0, 1]).
  """
  image = np.asarray(image)
  h, w = image.shape[:2]
  x0, y0, x1, y1 = clip_box(box, w, h, name)
  out = resize_rgb(np.ascontiguousarray(image[y0:y1, x0:x1]), size)
  out_mask = None
  if mask is not None:
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 3:
      mask = mask[:, :, 0]
    if mask.shape != (h, w):
      raise DataError(f"{name}: mask shape {mask.shape} != image shape {(h, w)}")
    out_mask = resize_mask(mask[y0:y1, x0:x1], size)
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
      skipped.add(rec.image_path, "unreadable", str(e))
      continue
    mask = None
    if rec.mask_path is not None:
      try:
        mask = load_mask(rec.mask_path)
      except DataError as e:
        skipped.add(rec.image_path, "unreadable mask", str(e))
        continue
      if mask.shape != image.shape[:2]:
        skipped.add(rec.image_path, "mask size mismatch",
                    f"{rec.mask_path}: {mask.shape} vs image {image.shape[:2]}")
        continue
    try:
      crop, crop_mask = crop_box(image, rec.box, size, mask, name=rec.image_path)
    except EmptyBoxError as e:
      skipped.add(rec.image_path, "empty box", str(e))
      continue
    yield {"image": crop, "mask": crop_mask, "id": int(rec.id),
           "is_train": bool(rec.is_train)}
