"""Segmenting image files of any size: crop each by an optional box, resize it to the network's input,
predict, and map the mask back to the image's own resolution and position; write 8-bit masks and RGBA
cutouts (`segment_files`; `segment_run` for experiments.segment's whole job). The images come from one
image, a folder, a glob pattern or a list file (`read_image_list`), the boxes from a CUB-style or CSV
boxes file (`read_boxes`).
"""
import collections
import dataclasses
import glob
import os
import sys
from typing import Optional

import numpy as np
from PIL import Image

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.apply import segment_outputs
from ind_prior_tf.data import box_names, list_lines, raw
from ind_prior_tf.data import boxes as boxes_lib
from ind_prior_tf.data import images as images_lib
from ind_prior_tf.data.skips import SkipLog
from ind_prior_tf.errors import DataError, EmptyBoxError
from ind_prior_tf.postprocess import floor as floor_lib
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.runtime import rundir
from ind_prior_tf.runtime.progress import ProgressBar


def crop_for_segmenter(image, box, size, name="box"):
  """uint8 [H, W, 3] -> (the box crop resized to size x size, uint8; its region (x0, y0, x1, y1)).

  No box: the whole image. PIL bilinear, as the prepared sets were made.
  """
  h, w = image.shape[:2]
  region = (0, 0, w, h) if box is None else boxes_lib.clip_box(box, w, h, name)
  x0, y0, x1, y1 = region
  return boxes_lib.resize_rgb(np.ascontiguousarray(image[y0:y1, x0:x1]), size), region


def paste_mask(mask, region, image_shape):
  """A network-size mask [S, S] (or [S, S, 1]) -> float32 [H, W]: resized onto region, 0 outside."""
  mask = np.asarray(mask, np.float32)
  if mask.ndim == 3:
    mask = mask[..., 0]
  x0, y0, x1, y1 = region
  out = np.zeros(image_shape[:2], np.float32)
  if mask.shape != (y1 - y0, x1 - x0):
    mask = np.asarray(Image.fromarray(mask, "F").resize((x1 - x0, y1 - y0), Image.BILINEAR))
  out[y0:y1, x0:x1] = np.clip(mask, 0.0, 1.0)
  return out


def cutout(image, mask):
  """RGBA uint8 [H, W, 4]: the image with the mask as its alpha channel."""
  alpha = np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
  return np.concatenate([image, alpha[..., None]], axis=-1)


def segment_batch(post, predict, images, regions, crops, threshold=None, with_floor=False,
                  seen=None):
  """Full-size masks of photos from their box crops: the post-processing stage (postprocess.run_batch)
  on the crops, each mask pasted back onto its photo's box (0 outside), optionally thresholded.

  images: uint8 [H, W, 3] photos; regions: their boxes (x0, y0, x1, y1); crops: uint8 [N, S, S, 3],
  the boxes resized to the network's input (crop_for_segmenter); predict: crops -> the network's
  masks (segmenter.predictor with post's averaging). -> [float32 [H, W] in [0, 1]], one per photo:
  what experiments.segment writes (times 255, rounded) and the Python API returns; with_floor:
  (those, bool [N] where the floor took GrabCut from the box). seen: the floor's SetTrust of the set
  these photos belong to (None: these photos alone)."""
  crops = np.stack(crops) / np.float32(255.0)
  _, masks, took = postprocess.stage(post, predict, crops, list(zip(images, regions)), seen)
  out = []
  for image, region, mask in zip(images, regions, masks):
    full = paste_mask(mask, region, image.shape)
    if threshold is not None:
      full = (full > threshold).astype(np.float32)
    out.append(full)
  return (out, took) if with_floor else out


def to_png_values(mask):
  """A mask in [0, 1] as the 8-bit values a written mask holds."""
  return np.round(np.asarray(mask, np.float32) * 255.0).astype(np.uint8)


# Image lists and box files.


class ImageList(list):
  """[(key, relative path, path)] of the images to segment, with `what`: how they were found (the
  header line's words, e.g. 'the folder photos and 2 subfolders')."""

  def __init__(self, items, what):
    super().__init__(items)
    self.what = what


def _is_image_file(path):
  """True when the name is an image's, or Pillow recognises the file's header (a photo without its
  extension): such a file is one image, never a list of paths."""
  if images_lib.is_image_name(path):
    return True
  try:
    with Image.open(path):
      return True
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
    return False


def _glob_root(spec):
  """The folder a glob's matches are named from: its leading components without wildcards."""
  parts = spec.split(os.sep)
  fixed = []
  for part in parts[:-1]:
    if glob.has_magic(part):
      break
    fixed.append(part)
  return os.sep.join(fixed) or ("/" if spec.startswith(os.sep) else ".")


def _from_folder(folder):
  scan = images_lib.scan_images(folder, recursive=True)
  rels = sorted(scan.images + scan.broken_links)
  what = f"the folder {folder}" + (
      f" and {scan.subfolders} subfolder{'s' if scan.subfolders > 1 else ''}" if scan.subfolders
      else "")
  ignored = scan.ignored_summary()
  if not rels:
    raise DataError(f"{folder}: no images (files Pillow reads: *.jpg, *.png, *.webp, *.tif, ...)"
                    + (f"; {ignored}" if ignored else ""))
  return ImageList([(rel, rel, os.path.join(folder, rel)) for rel in rels],
                   what + (f"; {ignored}" if ignored else ""))


def _from_glob(spec):
  root = _glob_root(spec)
  matches = sorted(glob.glob(spec, recursive=True))
  # Broken links are kept (glob lists them): they are reported as skipped, not dropped.
  found = [p for p in matches if images_lib.is_image_name(p) and
           (os.path.isfile(p) or not os.path.exists(p))]
  if not found:
    raise DataError(f"--images={spec}: the pattern matches no images ({len(matches)} matches)")
  others = len(matches) - len(found)
  return ImageList([(rel, rel, p) for p in found for rel in [os.path.relpath(p, root)]],
                   f"the pattern {spec}" + (f"; ignored {others} other matches" if others else ""))


def _from_list_file(spec, image_root):
  with open(spec, "rb") as f:
    head = f.read(8192)
  try:
    if b"\0" in head:
      raise UnicodeDecodeError("utf-8", head, 0, 1, "NUL byte")
    head.decode("utf-8", errors="strict")
  except UnicodeDecodeError:
    raise DataError(f"{spec}: neither an image Pillow reads nor a text list of images") from None
  out = list_lines.read_entries(spec, image_root)
  return ImageList(out, f"the list file {spec}")


def read_image_list(spec, image_root=None):
  """Images to segment: one image, a folder, a glob pattern or a list file. Returns an ImageList of
  (key, relative path, path); its `what` says which of the four `spec` was.

  An image: a file named as one Pillow reads (images.IMAGE_EXTENSIONS) or whose header Pillow
  recognises (key = relative path = its file name). A folder: every image in it and in its
  subfolders (key = the path relative to the folder, which the outputs keep); broken links are listed
  (to be reported as skipped), other files are named in `what`. A pattern (`photos/*.jpg`,
  `photos/**/*.png`; quote it in a shell): its matches that are images, named relative to the
  pattern's folder. A list file: one image per line, either `<path>` or, as CUB's images.txt,
  `<image_id> <path>` (key = the id); blank lines and lines starting with # are ignored. Relative
  paths are resolved against image_root; its default is the list file's folder, or for `<id> <path>`
  lists its images/ subfolder when there is one (CUB layout).
  """
  spec = os.fspath(spec)
  if os.path.isdir(spec):
    return _from_folder(spec)
  if os.path.isfile(spec):
    if _is_image_file(spec):
      name = os.path.basename(spec)
      return ImageList([(name, name, spec)], f"the image {spec}")
    return _from_list_file(spec, image_root)
  if glob.has_magic(spec):
    return _from_glob(spec)
  raise DataError(f"{spec}: no such image, folder, pattern or list file")


def read_boxes(path):
  """A boxes file (ind_prior_tf.data.raw.read_box_file): CUB-style lines `<key> <x> <y> <w> <h>`
  (pixels), key an image id (CUB's bounding_boxes.txt) or an image's path as listed / file name, or a
  CSV file with the header `name,x,y,w,h`. Returns {key: (x, y, w, h)}, integer keys as ints."""
  return raw.read_box_file(path)


def find_box(boxes, key, rel):
  for k in (key, rel, os.path.basename(rel)):
    if k in boxes:
      return boxes[k]
  return None


def output_name(rel):
  """masks/<rel without extension>.png: keeps sub-folders (CUB classes) and never escapes out_dir."""
  rel = os.path.normpath(rel).lstrip(os.sep)
  parts = [p for p in rel.split(os.sep) if p not in ("", ".", "..")]
  return os.path.splitext(os.path.join(*parts))[0] + ".png"


def output_names(rels):
  """Unique output names (output_name) for images listed by rels, in their order, so that no mask
  overwrites another: where two images would share a name (a.jpg beside a.png) the one that is not a
  PNG keeps its extension (a.jpg.png), and any name still taken gets -1, -2 ... Names are compared
  case-insensitively, as some file systems do."""
  base = [output_name(rel) for rel in rels]
  shared = collections.Counter(name.lower() for name in base)
  names, used = [], set()
  for rel, name in zip(rels, base):
    if shared[name.lower()] > 1 and not rel.lower().endswith(".png"):
      name = output_name(rel + ".png")
    stem, n = name[:-len(".png")], 0
    while name.lower() in used:
      n += 1
      name = f"{stem}-{n}.png"
    used.add(name.lower())
    names.append(name)
  return names


def _write_png(path, array, mode):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}"
  Image.fromarray(array, mode).save(tmp, format="PNG")
  os.replace(tmp, path)


def segment_files(model, items, out_dir, post=None, boxes=None, threshold=None, batch_size=16,
                  progress=True, seen=None):
  """Segments every (key, rel, path) of items; writes <out_dir>/masks/<rel>.png (8-bit masks) and
  <out_dir>/cutouts/<rel>.png (RGBA, alpha = mask) at each image's original size.

  With boxes ({key: (x, y, w, h)}, see read_boxes) each image is cropped by its box first and its mask
  is 0 outside the box; an image without a box, an empty box, or an unreadable file is reported,
  counted and skipped, and the rest are still done. post: the post-processing (a
  postprocess.PostConfig; None: none), applied to each batch by segment_batch. threshold: None
  writes soft masks, a value in (0, 1) binary ones. Returns a SkipLog (also written to
  <out_dir>/skipped.txt) and, with post's floor, the names of the masks where it took GrabCut from
  the box (also written to <out_dir>/floor.txt), else None. seen: the floor's SetTrust, which
  judges all the images together (None: a new one).
  """
  post = post or postprocess.PostConfig()
  size = model.input_shape[1]
  names = output_names([rel for _, rel, _ in items])
  predict = segmenter.predictor(model, post.flip_average, post.shift_average)
  skipped = SkipLog(len(items))
  bar = ProgressBar(len(items), every=max(1, len(items) // 20), enabled=progress)
  pending = []  # (output name, image, crop, region)
  took_grabcut = []
  seen = floor_lib.SetTrust() if seen is None else seen  # the whole folder, not each batch alone

  def flush():
    if not pending:
      return
    names_, images, crops, regions = zip(*pending)
    fulls, took = segment_batch(post, predict, images, regions, crops, threshold, with_floor=True,
                                seen=seen)
    took_grabcut.extend(n for n, t in zip(names_, took) if t)
    for name, image, full in zip(names_, images, fulls):
      _write_png(os.path.join(out_dir, "masks", name), to_png_values(full), "L")
      _write_png(os.path.join(out_dir, "cutouts", name), cutout(image, full), "RGBA")
    pending.clear()

  counted = [0]

  def advance(i):
    for n in range(counted[0] + 1, i + 1):  # every count, so a log file gets its every-k lines
      bar.update(n)
    counted[0] = max(counted[0], i)

  os.makedirs(out_dir, exist_ok=True)
  for i, ((key, rel, path), name) in enumerate(zip(items, names), 1):
    try:
      box = None
      if boxes is not None:
        box = find_box(boxes, key, rel)
        if box is None:
          raise DataError(f"{path}: not in the boxes file")
      image = images_lib.load_image_rgb(path)
      crop, region = crop_for_segmenter(image, box, size, name=f"{path}: box")
    except DataError as e:  # EmptyBoxError is one
      reason = ("empty box" if isinstance(e, EmptyBoxError) else
                "not in boxes file" if box is None and boxes is not None else
                "broken link" if os.path.islink(path) and not os.path.exists(path) else
                "unreadable")
      skipped.add(path, reason, str(e))
      print(("\n" if bar.tty else "") + f"skipping {e}", file=sys.stderr, flush=True)
      if not pending:
        advance(i)
      continue
    pending.append((name, image, crop, region))
    if len(pending) >= batch_size:
      flush()
      advance(i)  # images are counted once written
  flush()
  advance(len(items))
  bar.close()
  skipped.write(os.path.join(out_dir, "skipped.txt"))
  if not post.grabcut_floor:
    return skipped, None
  rundir.atomic_write_text(os.path.join(out_dir, "floor.txt"),
                           "".join(f"{name}\n" for name in took_grabcut))
  return skipped, took_grabcut


@dataclasses.dataclass
class Segmented:
  """What segment_run returns: how many images were listed and written, the SkipLog of the rest, the
  checkpoint used, and the images whose output name keeps their extension ((rel, name): a.jpg beside
  a.png writes a.jpg.png)."""
  listed: int
  done: int
  skipped: SkipLog
  checkpoint: str
  renamed: list
  floor: Optional[list] = None  # with the floor: the masks where it took GrabCut from the box
  floor_known: Optional[bool] = None  # with the floor: whether it judged the set known (SetTrust)
  floor_gap: Optional[float] = None  # and the median colour-fit gap it judged by


def segment_run(config, log=print):
  """Segments config.images with config.run_dir's segmenter (an apply_config.SegmentConfig): checks
  every flag and file first (nothing is written before), logs one line saying what it segments, then
  writes <out_dir>/masks, cutouts and skipped.txt (segment_files). Returns a Segmented."""
  config.validate().check_files()
  items = read_image_list(config.images, config.image_root)
  boxes = read_boxes(config.boxes) if config.boxes else None
  if boxes is not None:  # each image's box, or a line naming several images: an error
    boxes = box_names.list_boxes(boxes, config.boxes, items)
  segment_outputs.check_items(config.out_dir, items)
  earlier = segment_outputs.earlier_outputs(config.out_dir, config.overwrite)
  model, run_config, ckpt = segmenter.load_run_segmenter(config.run_dir, config.checkpoint)
  log(f"segmenting {len(items)} image{'s' if len(items) != 1 else ''} ({items.what}) with {ckpt} "
      f"({run_config.get('image_size')} px){' cropped by ' + config.boxes if boxes is not None else ''}")
  removed = segment_outputs.claim(config.out_dir, earlier)
  if earlier:
    log(f"--overwrite: replacing the earlier segmentation in {config.out_dir} ({removed} files "
        f"removed from {', '.join(earlier)})")
  seen = floor_lib.SetTrust()
  skipped, floor = segment_files(model, items, config.out_dir, post=config.post, boxes=boxes,
                                 threshold=config.threshold, batch_size=config.batch_size,
                                 progress=config.progress, seen=seen)
  names = output_names([rel for _, rel, _ in items])
  renamed = [(rel, name) for (_, rel, _), name in zip(items, names) if name != output_name(rel)]
  known = seen.known(config.post.floor_trust) if floor is not None else None
  return Segmented(len(items), len(items) - len(skipped), skipped, ckpt, renamed, floor, known,
                   seen.median_gap if floor is not None else None)
