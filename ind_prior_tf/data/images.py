"""Images and masks on disk and in memory (pure numpy / PIL, no TensorFlow).

Conventions: images in memory are uint8 HxWx3 RGB; masks are float32 HxW in [0, 1]. Every file is
decoded as it is displayed: its EXIF orientation applied (a phone photo stored sideways comes out
upright), so boxes and masks refer to the upright image. Files without an orientation tag (or tag 1)
are decoded exactly as stored.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from ind_prior_tf.data.skips import short_exc
from ind_prior_tf.errors import DataError
from ind_prior_tf.runtime import owned

_ORIENTATION = 0x0112  # the EXIF tag
# Formats Pillow only identifies (stubs needing other libraries, Windows-only or video): not photos.
_NOT_PHOTOS = {"BUFR", "GRIB", "HDF5", "WMF", "MPEG", "EPS"}


def _readable_extensions() -> tuple:
  Image.init()
  return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                      if fmt in Image.OPEN and fmt not in _NOT_PHOTOS))


# File name endings of the images Pillow reads (jpg, png, bmp, webp, tif, gif, ...), lower case.
IMAGE_EXTENSIONS = _readable_extensions()


def is_image_name(name: str) -> bool:
  return os.fspath(name).lower().endswith(IMAGE_EXTENSIONS)


def _orientation(im: Image.Image) -> int:
  try:
    return int(im.getexif().get(_ORIENTATION, 1) or 1)
  except (OSError, SyntaxError, ValueError, TypeError, KeyError):
    return 1  # a malformed EXIF block: the pixels as stored


def _open_image(path: str) -> Image.Image:
  """The decoded image (first frame of an animation), EXIF orientation applied."""
  if not os.path.isfile(path):
    what = "broken link" if os.path.islink(path) else "missing image file"
    raise DataError(f"{path}: {what}")
  try:
    im = Image.open(path)
    im.load()  # Raises on truncated files (LOAD_TRUNCATED_IMAGES is False).
    if _orientation(im) in range(2, 9):
      # Only for a real rotation or mirror: any other image stays the very object decoded.
      im = ImageOps.exif_transpose(im)
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
          EOFError) as e:
    raise DataError(f"{path}: unreadable image ({short_exc(e)})") from None
  return im


def image_size(path: str) -> tuple:
  """(width, height) of an image file as displayed (EXIF orientation applied), read from its header
  only. Raises DataError when the file is missing or not an image."""
  path = os.fspath(path)
  try:
    with Image.open(path) as im:
      width, height = im.size
      if _orientation(im) in (5, 6, 7, 8):  # a quarter turn (or transpose) swaps the sides
        width, height = height, width
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f"{path}: unreadable image ({short_exc(e)})") from None
  return width, height


def _wide_to_uint8(im: Image.Image) -> np.ndarray:
  """16-bit ('I;16*') or 32-bit ('I', 'F') single channel -> uint8 HxW."""
  a = np.asarray(im).astype(np.float64)
  if im.mode.startswith("I;16") or (a.size and a.min() >= 0 and
                                    a.max() <= 65535 and im.mode == "I"):
    a = a / 257.0  # Full 16-bit range -> 8-bit.
  else:
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
    a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
  return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
  mode = im.mode
  if mode == "RGB":
    return np.asarray(im, dtype=np.uint8).copy()
  if mode.startswith("I") or mode == "F":
    g = _wide_to_uint8(im)
    return np.repeat(g[:, :, None], 3, axis=2)
  if mode == "P":
    im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    mode = im.mode
  if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
    rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
    alpha = rgba[:, :, 3:4] / 255.0
    # Composite on black (alpha dropped).
    return np.clip(np.round(rgba[:, :, :3] * alpha), 0, 255).astype(np.uint8)
  # L, 1, CMYK, YCbCr, LAB, HSV, ...
  return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def load_image_rgb(path: str) -> np.ndarray:
  """Reads an image file as uint8 HxWx3 RGB.

  Grayscale (L, 1), palette (P), CMYK, YCbCr -> RGB by PIL; images with
  alpha (RGBA, LA, P with transparency) are composited on black and the alpha
  is dropped; 16-bit grayscale ('I;16') is scaled by the 16-bit range
  (value / 257), other 32-bit modes by their min..max range.  Any format
  Pillow reads (webp, tif, the first frame of a gif ...); EXIF orientation
  applied (see the module's docstring).  Truncated files and non-image
  bytes raise DataError("<path>: unreadable image (...)").
  """
  path = os.fspath(path)
  im = _open_image(path)
  try:
    rgb = _pil_to_rgb(im)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: unreadable image ({short_exc(e)})") from None
  if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
    raise DataError(f"{path}: unreadable image (decoded shape {rgb.shape})")
  return rgb


def load_mask(path: str) -> np.ndarray:
  """Reads a mask image ({0,255} PNG) as float32 HxW in [0, 1] (no threshold).

  Color masks are converted to grayscale; an alpha channel is ignored; EXIF
  orientation is applied as to images.
  """
  path = os.fspath(path)
  im = _open_image(path)
  try:
    if im.mode.startswith("I") or im.mode == "F":
      g = _wide_to_uint8(im)
    elif im.mode == "1":
      g = np.asarray(im.convert("L"), dtype=np.uint8)
    else:
      g = np.asarray(im.convert("L"), dtype=np.uint8)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: unreadable mask ({short_exc(e)})") from None
  return g.astype(np.float32) / 255.0


def load_image_spec(spec: str) -> np.ndarray:
  """A path, or skimage:<name> for a sample bundled with scikit-image (offline) -> uint8 HxWx3.

  Grayscale samples such as coins are repeated to three channels.  Errors name the --image flag.
  """
  if not spec.startswith("skimage:"):
    return load_image_rgb(spec)
  name = spec.split(":", 1)[1]
  try:
    import skimage.data  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f"--image={spec}: scikit-image not available ({e})") from None
  fn = getattr(skimage.data, name, None)
  if not callable(fn) or name.startswith("_"):
    raise DataError(f"--image={spec}: no sample image {name!r} in skimage.data")
  try:
    image = fn()
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f"--image={spec}: cannot load ({type(e).__name__}: {e})") from None
  return as_rgb_uint8(image, name=f"--image={spec}")


def as_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
  """Array (HxW gray, HxWx1, HxWx3, HxWx4; uint8/uint16/bool/float) -> uint8 HxWx3.

  Floats are assumed in [0, 1] when their max is <= 1, else in [0, 255].
  uint16 is scaled by 1/257.  A 4th (alpha) channel is dropped.
  """
  a = np.asarray(image)
  if a.ndim == 2:
    a = a[:, :, None]
  if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
    raise DataError(f"{name}: expected HxW, HxWx1, HxWx3 or HxWx4, got {a.shape}")
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


def list_images(folder: str, recursive: bool = False) -> list:
  """Sorted paths of the images (IMAGE_EXTENSIONS, case-insensitive) in folder; with recursive, in
  its subfolders too (see scan_images). Broken links are left out."""
  scan = scan_images(folder, recursive)
  paths = [os.path.join(scan.folder, rel) for rel in scan.images]
  if not paths:
    ignored = scan.ignored_summary()
    raise DataError(f"{folder}: no images (files Pillow reads: *.jpg, *.png, *.webp, *.tif, ...)"
                    + (f"; {ignored}" if ignored else ""))
  return paths


class FolderScan:
  """What scan_images found: `images` (relative paths, sorted), `broken_links` (relative paths of
  links to nothing that are named as images), `others` (relative paths of the files that are not
  images by their name, hidden files and folders included), `subfolders` (how many held images)."""

  def __init__(self, folder):
    self.folder = folder
    self.images, self.broken_links, self.others = [], [], []
    self.excluded = []  # (relative path/, why): folders left out whole (excluded_summary)
    self.subfolders = 0

  def ignored_summary(self) -> str:
    """'' or e.g. 'ignored 2 other files: notes.txt, .DS_Store' (for the header lines), then the
    folders left out (excluded_summary)."""
    parts = [self.excluded_summary()] if self.excluded else []
    if self.others:
      shown = ", ".join(self.others[:3]) + (", ..." if len(self.others) > 3 else "")
      parts.insert(0, f'ignored {len(self.others)} other '
                   f'file{"s" if len(self.others) > 1 else ""}: {shown}')
    return "; ".join(parts)

  def excluded_summary(self) -> str:
    """'' or e.g. 'left out out/cutouts/, out/masks/ (outputs of experiments.segment)'."""
    whys = list(dict.fromkeys(why for _, why in self.excluded))
    return ("left out " + "; ".join(
        ", ".join(rel for rel, w in self.excluded if w == why) + f" ({why})" for why in whys)
            if self.excluded else "")


def scan_images(folder: str, recursive: bool = True, exclude=()) -> FolderScan:
  """The images of a folder, by their names: every file Pillow reads (IMAGE_EXTENSIONS), with
  recursive in every subfolder too (followed links included, each real folder once). Hidden files
  and folders (names starting with '.', such as macOS's ._IMG_1.jpg) are not images; they are listed
  among `others` so that nothing is left out without a word. Our own outputs (the entries a folder's
  owned.MARKER names, such as experiments.segment's masks/ and cutouts/) and the folders of
  `exclude` ((path, why): another flag's folder inside this one) are left out and listed in
  `excluded`. Nothing is decoded here."""
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: missing image directory")
  scan = FolderScan(folder)
  excluded = {os.path.realpath(p): why for p, why in exclude if p}
  seen = set()
  dirs_with_images = set()
  for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
    real = os.path.realpath(dirpath)
    if real in seen:  # a link back up the tree
      dirnames[:] = []
      continue
    seen.add(real)
    rel_dir = os.path.relpath(dirpath, folder)
    rel = (lambda n: n) if rel_dir == "." else (lambda n: os.path.join(rel_dir, n))
    # Hidden folders (and, not recursive, every subfolder) are named among the others, so that a
    # user learns why their images were not read.
    marker = owned.read_marker(dirpath) or {}
    ours = set(marker.get("wrote", [])) | ({owned.MARKER} if marker else set())
    for d in sorted(dirnames):
      why = (f'outputs of {marker.get("tool", "ind-prior-tf")}' if d in ours
             else excluded.get(os.path.realpath(os.path.join(dirpath, d))))
      if why:
        scan.excluded.append((rel(d) + os.sep, why))
        dirnames.remove(d)
    skipped = sorted(d for d in dirnames if d.startswith(".") or not recursive)
    scan.others.extend(rel(d) + os.sep for d in skipped)
    dirnames[:] = sorted(set(dirnames) - set(skipped))
    for name in sorted(filenames):
      path = os.path.join(dirpath, name)
      if name in ours:  # our own file (skipped.txt, the marker): neither an image nor the user's
        continue
      if name.startswith(".") or not is_image_name(name):
        scan.others.append(rel(name))
      elif not os.path.exists(path):
        scan.broken_links.append(rel(name))
      elif os.path.isfile(path):
        scan.images.append(rel(name))
        dirs_with_images.add(rel_dir)
      else:
        scan.others.append(rel(name))
  scan.images.sort()
  scan.broken_links.sort()
  scan.subfolders = len(dirs_with_images - {"."})
  return scan
