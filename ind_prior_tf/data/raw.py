"""Raw annotated sets: CUB-200-2011 (also the Weizmann horses in its layout), CelebA, and a plain
folder of photos of one category (optionally with a boxes file and a masks folder).

Every reader returns a RecordList (Records: image path, box, split, mask path) with the per-image
problems it skipped attached.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
from typing import Optional

from absl import logging

from ind_prior_tf.data import box_names
from ind_prior_tf.data import images as images_lib
from ind_prior_tf.data.box_names import BoxTable, read_box_file  # noqa: F401 (offered here too)
from ind_prior_tf.data.skips import SkipLog
from ind_prior_tf.errors import DataError


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



class RecordList(list):
  """A list of Records with a ``skipped`` SkipLog attached."""

  def __init__(self, records=(), skipped: Optional[SkipLog] = None):
    super().__init__(records)
    self.skipped = skipped if skipped is not None else SkipLog(len(self))

  def first(self, n: Optional[int]) -> 'RecordList':
    """The first n records (all when n is None or not smaller), keeping the read's skip log: its
    items, and a total of the records kept plus the skipped ones."""
    if n is None or n >= len(self):
      return self
    out = RecordList(self[:n])
    out.skipped.items = list(self.skipped.items)
    out.skipped.total = n + len(self.skipped)
    return out


def _read_table(path: str, ncols: int, what: str) -> dict:
  """'<id> <v1> ... ' lines -> {id: [str,...]} (exactly ncols values)."""
  if not os.path.isfile(path):
    raise DataError(what)
  table = {}
  with open(path, "r", encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, 1):
      parts = line.split()
      if not parts:
        continue
      if len(parts) != ncols + 1:
        raise DataError(f"{path}:{lineno}: expected {ncols + 1} fields, got "
                        f"{len(parts)}: {line.strip()[:80]!r}")
      try:
        key = int(parts[0])
      except ValueError:
        raise DataError(f"{path}:{lineno}: bad image id {parts[0]!r}") from None
      if key in table:
        raise DataError(f"{path}:{lineno}: duplicate image id {key}")
      table[key] = parts[1:]
  return table


def _floats(path: str, key, values) -> tuple:
  try:
    out = tuple(float(v) for v in values)
  except ValueError:
    raise DataError(f"{path}: bad numbers for image {key}: {values}") from None
  if not all(math.isfinite(v) for v in out):
    raise DataError(f"{path}: non-finite numbers for image {key}: {values}")
  return out


_CUB_LAYOUT = ("expected CUB-200-2011 layout: images.txt, bounding_boxes.txt, "
               "train_test_split.txt, images/")


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
    raise DataError(f"{root}: missing directory ({_CUB_LAYOUT})")
  names = {}
  for name in ("images.txt", "bounding_boxes.txt", "train_test_split.txt"):
    p = os.path.join(root, name)
    if not os.path.isfile(p):
      raise DataError(f"{p}: missing ({_CUB_LAYOUT})")
    names[name] = p
  images_dir = os.path.join(root, "images")
  if not os.path.isdir(images_dir):
    raise DataError(f"{images_dir}: missing directory ({_CUB_LAYOUT})")
  seg_dir = os.path.join(root, "segmentations")
  has_seg_dir = os.path.isdir(seg_dir)

  images = _read_table(names["images.txt"], 1, names["images.txt"])
  boxes = _read_table(names["bounding_boxes.txt"], 4, names["bounding_boxes.txt"])
  split = _read_table(names["train_test_split.txt"], 1,
                      names["train_test_split.txt"])
  if not images:
    raise DataError(f"{names['images.txt']}: no images listed")

  skipped = SkipLog(total=len(images))
  for key in sorted(set(boxes) - set(images)):
    logging.warning("%s: id %d not in images.txt (ignored)",
                    names["bounding_boxes.txt"], key)
  records = []
  for key in sorted(images):
    rel = images[key][0]
    if key not in boxes:
      skipped.add(rel, "not in bounding_boxes.txt", f"id {key}")
      continue
    if key not in split:
      skipped.add(rel, "not in train_test_split.txt", f"id {key}")
      continue
    box = _floats(names["bounding_boxes.txt"], key, boxes[key])
    flag = split[key][0]
    if flag not in ("0", "1"):
      raise DataError(f"{names['train_test_split.txt']}: bad split flag "
                      f"{flag!r} for image {key} (expected 0 or 1)")
    image_path = os.path.join(images_dir, rel)
    if not os.path.isfile(image_path):
      skipped.add(image_path, "missing file", f"id {key}")
      continue
    mask_path = None
    if has_seg_dir:
      candidate = os.path.join(seg_dir, os.path.splitext(rel)[0] + ".png")
      if os.path.isfile(candidate):
        mask_path = candidate
    if require_masks and mask_path is None:
      skipped.add(image_path, "no mask", f"id {key}")
      continue
    records.append(Record(id=key, image_path=image_path, box=box,
                          is_train=(flag == "1"), mask_path=mask_path))
  if len(skipped):
    skipped.log_summary("images")
  if not records:
    raise DataError(f"{root}: no usable images ({skipped.summary()})")
  return RecordList(records, skipped)


def _read_celeba_boxes(bbox_path: str) -> list:
  """[(file name, box)] of list_bbox_celeba.txt: a count line, a header line, then one line per
  image; DataError naming the line for anything else."""
  with open(bbox_path, "r", encoding="utf-8", errors="replace") as f:
    lines = f.read().splitlines()
  if len(lines) < 2:
    raise DataError(f"{bbox_path}: expected a count line and a header line")
  try:
    declared = int(lines[0].split()[0])
  except (ValueError, IndexError):
    raise DataError(f"{bbox_path}:1: expected the image count, got "
                    f"{lines[0][:80]!r}") from None
  header = lines[1].split()
  if header[:1] != ["image_id"] or len(header) != 5:
    raise DataError(f"{bbox_path}:2: expected header `image_id x_1 y_1 width "
                    f"height`, got {lines[1][:80]!r}")
  entries = []
  seen = set()
  for lineno, line in enumerate(lines[2:], 3):
    parts = line.split()
    if not parts:
      continue
    if len(parts) != 5:
      raise DataError(f"{bbox_path}:{lineno}: expected 5 fields, got "
                      f"{len(parts)}: {line.strip()[:80]!r}")
    if parts[0] in seen:
      raise DataError(f"{bbox_path}:{lineno}: duplicate image {parts[0]}")
    seen.add(parts[0])
    entries.append((parts[0], _floats(f"{bbox_path}:{lineno}", parts[0],
                                      parts[1:])))
  if not entries:
    raise DataError(f"{bbox_path}: no images listed")
  if declared != len(entries):
    logging.warning("%s: header says %d images, found %d lines", bbox_path,
                    declared, len(entries))
  return entries


def _read_celeba_partition(part_path: str) -> Optional[dict]:
  """{file name: 0 train, 1 val, 2 test} of list_eval_partition.txt, or None when it is absent."""
  if not os.path.isfile(part_path):
    return None
  partition = {}
  with open(part_path, "r", encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, 1):
      parts = line.split()
      if not parts:
        continue
      if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
        raise DataError(f"{part_path}:{lineno}: expected `<file> <0|1|2>`, "
                        f"got {line.strip()[:80]!r}")
      partition[parts[0]] = int(parts[1])
  return partition


def read_celeba(root: str) -> RecordList:
  """Reads a CelebA directory: list_bbox_celeba.txt + img_celeba/.

  list_bbox_celeba.txt: line 1 = count, line 2 = header
  `image_id x_1 y_1 width height`, then `000001.jpg 95 71 226 313`.
  Optional list_eval_partition.txt (`000001.jpg 0`; 0 train, 1 val,
  2 test): is_train = (partition == 0); absent -> all train.  The record id
  is the numeric file stem (000001.jpg -> 1).  No masks.
  """
  root = os.fspath(root)
  layout = "expected CelebA layout: list_bbox_celeba.txt, img_celeba/"
  if not os.path.isdir(root):
    raise DataError(f"{root}: missing directory ({layout})")
  bbox_path = os.path.join(root, "list_bbox_celeba.txt")
  img_dir = os.path.join(root, "img_celeba")
  if not os.path.isfile(bbox_path):
    raise DataError(f"{bbox_path}: missing ({layout})")
  if not os.path.isdir(img_dir):
    raise DataError(f"{img_dir}: missing directory ({layout})")
  entries = _read_celeba_boxes(bbox_path)
  partition = _read_celeba_partition(os.path.join(root, "list_eval_partition.txt"))
  skipped = SkipLog(total=len(entries))
  records = []
  for index, (name, box) in enumerate(entries, 1):
    stem = os.path.splitext(name)[0]
    key = int(stem) if stem.isdigit() else index
    image_path = os.path.join(img_dir, name)
    if partition is not None and name not in partition:
      skipped.add(image_path, "not in list_eval_partition.txt")
      continue
    if not os.path.isfile(image_path):
      skipped.add(image_path, "missing file")
      continue
    is_train = True if partition is None else partition[name] == 0
    records.append(Record(id=key, image_path=image_path, box=box,
                          is_train=is_train, mask_path=None))
  if len(skipped):
    skipped.log_summary("images")
  if not records:
    raise DataError(f"{root}: no usable images ({skipped.summary()})")
  return RecordList(records, skipped)


# A folder of photos of one category.


def _mask_index(masks_dir: str, exclude=()) -> dict:
  """{relative path without extension: mask path} of the images in a masks folder (and of their
  file names' stems, where no two masks share one)."""
  scan = images_lib.scan_images(masks_dir, recursive=True, exclude=exclude)
  index = {os.path.splitext(rel)[0]: os.path.join(masks_dir, rel) for rel in scan.images}
  stems = collections.Counter(os.path.basename(k) for k in index)
  for key, mask in list(index.items()):
    stem = os.path.basename(key)
    if stems[stem] == 1:
      index.setdefault(stem, mask)
  return index


def read_folder(images_dir: str, boxes_path: Optional[str] = None,
                masks_dir: Optional[str] = None, exclude=()) -> RecordList:
  """Reads a folder of photos of one category (and its subfolders) as Records, all in the train split
  (the method needs no labels; images with a mask can still be scored).

  Ids are 1, 2, ... in the order of the images' relative paths, whatever is skipped. The box of an
  image is its entry in the boxes file (read_box_file; keyed by the path relative to the folder or
  the file name), else the whole image. Its mask is the image of the same relative path (or file
  name) without extension in masks_dir, when there is one. Boxes and masks refer to the images as
  displayed (EXIF orientation applied). Broken links and files whose header is unreadable are
  counted skips; a boxes file none of whose keys names an image, or a folder without images, is a
  DataError, as is a box whose name fits no photo or several (box_names.folder_boxes). A
  masks folder inside the photos' (or `exclude`: (path, why)) is not read as photos; the RecordList's
  `excluded` says which folders were left out.
  """
  images_dir = os.fspath(images_dir)
  scan = images_lib.scan_images(images_dir, recursive=True,
                                exclude=[(masks_dir, "the --masks folder"), *exclude])
  rels = sorted(scan.images + scan.broken_links)
  if not rels:
    raise DataError(f"{images_dir}: no images (files Pillow reads: *.jpg, *.png, *.webp, *.tif, "
                    "...)" + (f"; {scan.ignored_summary()}" if scan.others else ""))
  boxes = read_box_file(boxes_path) if boxes_path else {}
  if boxes:
    names = set(rels) | {os.path.basename(r) for r in rels}
    if not any(str(k) in names for k in boxes):
      raise DataError(f"{boxes_path}: none of its {len(boxes)} names is an image of {images_dir} "
                      f"(e.g. {next(iter(boxes))!r}); name images by their path in the folder")
  assigned = box_names.folder_boxes(boxes, boxes_path, rels, images_dir) if boxes else {}
  if masks_dir is not None and not os.path.isdir(masks_dir):
    raise DataError(f"{masks_dir}: missing masks directory")
  masks = _mask_index(masks_dir, [(images_dir, "the --images folder")]) if masks_dir else {}
  skipped = SkipLog(total=len(rels))
  records = []
  for key, rel in enumerate(rels, 1):
    path = os.path.join(images_dir, rel)
    if rel in scan.broken_links:
      skipped.add(path, "broken link")
      continue
    box = assigned.get(os.path.normpath(rel))
    if box is None:
      try:
        width, height = images_lib.image_size(path)
      except DataError as e:
        skipped.add(path, "unreadable", str(e))
        continue
      box = (0.0, 0.0, float(width), float(height))
    stem = os.path.splitext(rel)[0]
    mask = masks.get(stem, masks.get(os.path.basename(stem)))
    records.append(Record(id=key, image_path=path, box=box, is_train=True, mask_path=mask))
  if len(skipped):
    skipped.log_summary("images")
  if not records:
    raise DataError(f"{images_dir}: no usable images ({skipped.summary()})")
  out = RecordList(records, skipped)
  out.excluded = scan.excluded_summary()
  return out


def folder_digest(records, images_dir: str) -> str:
  """A digest of what read_folder(images_dir, ...) gave: each record's id, path in the folder and
  box. Reading the folder again gives the same one unless photos were added, removed or renamed, or
  their boxes changed (ids are positions in the folder's listing, so then they would not match)."""
  h = hashlib.sha1()
  for r in records:
    rel = os.path.relpath(r.image_path, images_dir).replace(os.sep, "/")
    h.update(f'{r.id}\t{rel}\t{",".join(repr(float(v)) for v in r.box)}\n'.encode("utf-8"))
  return h.hexdigest()
