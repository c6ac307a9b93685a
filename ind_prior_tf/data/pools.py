"""Background pools and HOC patches: uint8 [N, S, S, 3] patch arrays saved as .npz.

* Background pools: ``background_patches`` (natural images), ``inria_negatives`` (the INRIA Person
  archive's person-free images, the paper's CelebA pool), ``outside_box_patches`` (the dataset's own
  images outside their boxes), ``save_pool``, ``load_pool``; ``write_background_pool`` is
  data_prep.backgrounds.
* HOC patches (one image of a homogeneous object cluster): ``extract_patches``,
  ``disk_backgrounds``; ``write_hoc_pools`` is data_prep.hoc_patches.
"""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence

import numpy as np

from ind_prior_tf.data.boxes import clip_box, resize_rgb
from ind_prior_tf.data.images import (
  as_rgb_uint8,
  image_size,
  list_images,
  load_image_rgb,
  load_image_spec,
  scan_images,
)
from ind_prior_tf.data.raw import Record, read_cub
from ind_prior_tf.data.skips import SkipLog, short_exc
from ind_prior_tf.errors import DataError, EmptyBoxError


def _check_pool_args(size, count, min_scale, max_scale):
  if int(size) < 1:
    raise DataError(f"--size={size}: must be >= 1")
  if int(count) < 1:
    raise DataError(f"--count={count}: must be >= 1")
  if not 0 < min_scale <= max_scale <= 1:
    raise DataError(f"min_scale={min_scale}, max_scale={max_scale}: need "
                    "0 < min_scale <= max_scale <= 1")


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
      raise DataError(f"no readable images among {len(sources)} ({skipped.summary()})")
    assign = np.asarray(good)[rng.integers(len(good), size=len(todo))]
    failed = []
    for src in np.unique(assign):
      slots = todo[assign == src]
      try:
        image = loader(sources[src])
      except DataError as e:
        skipped.add(getattr(sources[src], "image_path", sources[src]),
                    "unreadable", str(e))
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
    raise DataError("background_patches: no image paths given")
  _check_pool_args(size, count, min_scale, max_scale)
  rng = np.random.default_rng(seed)
  skipped = SkipLog(total=len(image_paths))

  def sample(_, image, rng):
    h, w = image.shape[:2]
    short = min(h, w)
    side = max(1, int(round(rng.uniform(min_scale, max_scale) * short)))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    return resize_rgb(np.ascontiguousarray(image[y:y + side, x:x + side]), size)

  out = _fill_patches(image_paths, int(count), rng, sample, load_image_rgb,
                      int(size), skipped)
  if len(skipped):
    skipped.log_summary("background images")
  return out


# The INRIA Person archive (INRIAPerson.tar) keeps its person-free photos in these two folders; the
# paper's CelebA pool is made of them. Both splits are used: a pool has no test split.
INRIA_NEGATIVES = ("Train/neg", "Test/neg")


def inria_negatives(root: str) -> list:
  """Paths of the INRIA Person archive's negative images: every image Pillow reads in
  <root>/Train/neg and <root>/Test/neg (either may be absent, not both), sorted within each folder.
  root is the archive's INRIAPerson folder or the folder it was extracted into. The positives
  (Train/pos, the 70X134H96 and 96X160H96 crops) hold people and are never read."""
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise DataError(f"{root}: missing INRIA Person root")
  base = root
  if not any(os.path.isdir(os.path.join(root, d)) for d in INRIA_NEGATIVES) \
      and os.path.isdir(os.path.join(root, "INRIAPerson")):
    base = os.path.join(root, "INRIAPerson")
  folders = [os.path.join(base, d) for d in INRIA_NEGATIVES
             if os.path.isdir(os.path.join(base, d))]
  if not folders:
    raise DataError(f"{root}: not the INRIA Person layout (no Train/neg or Test/neg folder)")
  paths = []
  for folder in folders:
    paths.extend(os.path.join(folder, rel) for rel in scan_images(folder, recursive=False).images)
  if not paths:
    raise DataError(f'{root}: no images in {" or ".join(folders)}')
  return paths


def _outside_regions(box, width: int, height: int, min_side: int):
  """Rectangles (x0, y0, x1, y1) around the box with both sides >= min_side."""
  x0, y0, x1, y1 = clip_box(box, width, height)
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
    raise DataError("outside_box_patches: no records given")
  _check_pool_args(size, count, 0.5, 1.0)
  if max_zoom is not None and not max_zoom > 0:
    raise DataError(f"outside_box_patches: max_zoom={max_zoom} must be > 0")
  size, count = int(size), int(count)
  min_side = max(1, int(math.ceil(size / 4)))
  rng = np.random.default_rng(seed)
  skipped = SkipLog(total=len(records))
  usable, regions, min_sides = [], [], []
  for rec in records:
    try:
      width, height = image_size(rec.image_path)  # as decoded: EXIF orientation applied
    except DataError as e:
      skipped.add(rec.image_path, "unreadable", str(e))
      continue
    try:
      need = min_side
      if max_zoom is not None:
        x0, y0, x1, y1 = clip_box(rec.box, width, height)
        need = max(need, int(math.ceil(max(x1 - x0, y1 - y0) / max_zoom)))
      r = _outside_regions(rec.box, width, height, need)
    except EmptyBoxError as e:
      skipped.add(rec.image_path, "empty box", str(e))
      continue
    if not r:
      skipped.add(rec.image_path, "no background region",
                  f"no strip of >= {need} px outside box {rec.box}")
      continue
    usable.append(rec)
    regions.append(r)
    min_sides.append(need)
  if not usable:
    zoom = f" (max_zoom {max_zoom})" if max_zoom is not None else ""
    raise DataError(f"no image has a background region of >= {min_side} px{zoom} "
                    f"outside its box ({skipped.summary()})")

  def sample(src, image, rng):
    rs = [r for r in regions[src]
          if r[2] <= image.shape[1] and r[3] <= image.shape[0]] or regions[src]
    areas = np.asarray([(r[2] - r[0]) * (r[3] - r[1]) for r in rs], np.float64)
    x0, y0, x1, y1 = rs[int(rng.choice(len(rs), p=areas / areas.sum()))]
    short = min(x1 - x0, y1 - y0)
    side = int(rng.integers(min(min_sides[src], short), short + 1))
    y = int(rng.integers(y0, y1 - side + 1))
    x = int(rng.integers(x0, x1 - side + 1))
    return resize_rgb(np.ascontiguousarray(image[y:y + side, x:x + side]), size)

  out = _fill_patches(usable, count, rng, sample,
                      lambda rec: load_image_rgb(rec.image_path), size, skipped)
  if len(skipped):
    skipped.log_summary("images")
  return out


def write_background_pool(out: str, size: int, count: int, seed: int,
                          image_dir: Optional[str] = None, cub_root: Optional[str] = None,
                          min_scale: float = 0.3, max_scale: float = 1.0,
                          max_zoom: Optional[float] = None, inria_root: Optional[str] = None):
  """data_prep.backgrounds: a pool of random crops of the images in image_dir or of the INRIA Person
  negatives under inria_root, or (with cub_root) of patches outside the boxes of a CUB-layout set,
  saved to `out`. Give exactly one source. Returns (patches, where they came from: for the
  report)."""
  given = [n for n, v in (("image_dir", image_dir), ("inria_root", inria_root),
                          ("cub_root", cub_root)) if v is not None]
  if len(given) != 1:
    raise DataError(f'write_background_pool: give one of image_dir, inria_root, cub_root (got '
                    f'{", ".join(given) or "none"})')
  if cub_root is not None:
    records = read_cub(cub_root)
    patches = outside_box_patches(records, size, count, seed, max_zoom=max_zoom)
    what = f"outside the boxes of {len(records)} images in {cub_root}"
  else:
    paths = list_images(image_dir) if inria_root is None else inria_negatives(inria_root)
    patches = background_patches(paths, size, count, seed, min_scale=min_scale,
                                 max_scale=max_scale)
    what = (f"{len(paths)} images in {image_dir}" if inria_root is None else
            f"{len(paths)} INRIA Person negatives in {inria_root}")
  save_pool(out, patches)
  return patches, what


def save_pool(path: str, patches: np.ndarray) -> None:
  """Writes np.savez_compressed(path, patches=uint8 [N,S,S,3]) atomically."""
  path = os.fspath(path)
  patches = np.asarray(patches)
  if patches.dtype != np.uint8 or patches.ndim != 4 or patches.shape[3] != 3 \
      or patches.shape[0] < 1:
    raise DataError(f"{path}: patches must be uint8 [N,S,S,3] with N >= 1, got "
                    f"{patches.dtype} {patches.shape}")
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise DataError(f"{parent}: output directory does not exist")
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    with open(tmp, "wb") as f:
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
    raise DataError(f"{path}: missing patch pool; run `python -m "
                    "data_prep.backgrounds` first")
  try:
    with np.load(path, allow_pickle=False) as z:
      if "patches" not in z.files:
        raise DataError(f"{path}: no `patches` array (has {z.files})")
      patches = z["patches"]
  except DataError:
    raise
  except Exception as e:  # zipfile.BadZipFile, OSError, ValueError, EOFError...
    raise DataError(f"{path}: corrupt patch pool ({short_exc(e)})") from None
  if patches.dtype != np.uint8 or patches.ndim != 4 or patches.shape[3] != 3 \
      or patches.shape[0] < 1 or patches.shape[1] != patches.shape[2]:
    raise DataError(f"{path}: expected uint8 [N,S,S,3] patches, got "
                    f"{patches.dtype} {patches.shape}")
  return patches


# HOC patches (one image of a homogeneous object cluster).


def default_stride(window: int) -> int:
  """The patch grid's stride when none is given: window // 8 (at least 1 px), for experiments.hoc's
  training patches and data_prep.hoc_patches' pools alike, so that the tool writes the patches a run
  trains on. The paper gives no stride; it cuts windows so as "to collect as many patches as
  possible", and an eighth of a window gives every instance many whole, shifted views."""
  return max(1, int(window) // 8)


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
    raise DataError(f"--window={window}: must be at least 4 px")
  if stride < 1:
    raise DataError(f"--stride={stride}: must be at least 1 px")
  if out_size < 1:
    raise DataError(f"--out_size={out_size}: must be at least 1 px")
  image = as_rgb_uint8(image)
  h, w = image.shape[:2]
  if h < window or w < window:
    raise DataError(f"--window={window}: larger than the image ({w}x{h} px, "
                    "width x height)")
  patches = [resize_rgb(np.ascontiguousarray(image[y:y + window, x:x + window]),
                         out_size)
             for y in _grid(h, window, stride) for x in _grid(w, window, stride)]
  out = np.stack(patches)
  if hflip:
    out = np.concatenate([out, out[:, :, ::-1]])
  if vflip:
    out = np.concatenate([out, out[:, ::-1]])
  return np.ascontiguousarray(out)


def centre_disk(height: int, width: int, radius: float) -> np.ndarray:
  """bool [height, width]: the pixels whose centre lies within `radius` px of the image centre
  ((height-1)/2, (width-1)/2). The disk of disk_backgrounds, of the HOC support prior and of the
  scores that look inside it."""
  yy, xx = np.mgrid[0:height, 0:width]
  return (yy - (height - 1) / 2.0) ** 2 + (xx - (width - 1) / 2.0) ** 2 <= radius ** 2


def disk_backgrounds(patches: np.ndarray, radius: Optional[float] = 20,
                     mode: str = "disk") -> np.ndarray:
  """HOC backgrounds: copies of patches with a disk in the centre.

  Pixels whose centre lies within `radius` (px, at the patch size) of the
  patch centre ((S-1)/2, (S-1)/2) are set to 0 (mode='disk', the paper's) or
  to the per-channel median of that patch's pixels outside the disk
  (mode='median_disk', ours: where the objects leave the ground visible, as
  coins on a table, a black disk can only be covered by instances, which then
  take on the ground's colour; a plain ground-coloured disk cannot pass for an
  object, so the instances still have to supply them). mode='ground' (ours):
  the whole patch filled with its per-channel median, no real pixel left for
  an instance to hide over. radius=None or mode='black' -> all black.
  """
  patches = np.asarray(patches)
  if patches.ndim != 4:
    raise DataError(f"patches: expected [N,H,W,C], got {patches.shape}")
  if mode not in ("disk", "black", "median_disk", "ground"):
    raise DataError(f"mode={mode!r}: expected 'disk', 'black', 'median_disk' or 'ground'")
  if radius is None or mode == "black":
    return np.zeros_like(patches)
  if mode == "ground":
    fill = np.median(patches.reshape(len(patches), -1, patches.shape[-1]), axis=1)
    return np.broadcast_to(fill[:, None, None].astype(patches.dtype), patches.shape).copy()
  if radius < 0:
    raise DataError(f"--disk_radius={radius}: must be >= 0")
  inside = centre_disk(patches.shape[1], patches.shape[2], radius)
  out = patches.copy()
  if mode == "median_disk" and not inside.all():
    fill = np.median(patches[:, ~inside], axis=1)  # [N, C]
    out[:, inside] = fill[:, None].astype(patches.dtype)
  else:
    out[:, inside] = 0
  return out


def write_hoc_pools(image_spec: str, window: int, out: str, stride: Optional[int] = None,
                    out_size: int = 64, hflip: bool = False, vflip: bool = False,
                    backgrounds_out: Optional[str] = None, disk_radius: float = 20.0) -> dict:
  """data_prep.hoc_patches: the patches of one HOC image (a path or skimage:<name>) saved to `out`
  and, with backgrounds_out, their disk backgrounds (negative disk_radius: pure black). stride
  defaults to default_stride(window). Returns {patches, stride, image_shape}."""
  stride = stride if stride is not None else default_stride(window)
  image = load_image_spec(image_spec)
  patches = extract_patches(image, window, stride, out_size=out_size, hflip=hflip, vflip=vflip)
  save_pool(out, patches)
  if backgrounds_out:
    radius = disk_radius if disk_radius >= 0 else None
    save_pool(backgrounds_out, disk_backgrounds(patches, radius))
  return dict(patches=patches, stride=stride, image_shape=image.shape)
