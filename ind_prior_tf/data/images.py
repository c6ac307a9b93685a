"""Images and masks on disk and in memory (pure numpy / PIL, no TensorFlow).

Conventions: images in memory are uint8 HxWx3 RGB; masks are float32 HxW in [0, 1].
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ind_prior_tf.errors import DataError
from ind_prior_tf.data.skips import short_exc

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def _open_image(path: str) -> Image.Image:
  if not os.path.isfile(path):
    raise DataError(f'{path}: missing image file')
  try:
    im = Image.open(path)
    im.load()  # Raises on truncated files (LOAD_TRUNCATED_IMAGES is False).
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
          EOFError) as e:
    raise DataError(f'{path}: unreadable image ({short_exc(e)})') from None
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
    raise DataError(f'{path}: unreadable image ({short_exc(e)})') from None
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
    raise DataError(f'{path}: unreadable mask ({short_exc(e)})') from None
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
