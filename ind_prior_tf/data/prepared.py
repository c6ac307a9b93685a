"""Prepared sets: box crops as TFRecord shards plus meta.json, written once (prepare.py, whose
writers are importable from here too) and read by training: ``read_meta``, ``prepared_dataset`` as
tf.data, ``load_prepared_arrays`` as numpy, and the raw records behind a set's examples
(``raw_record_index``, ``raw_records``). In tf.data images are float32 in [0, 1] and masks float32
HxWx1. TensorFlow is imported lazily, only by the readers.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Optional

import numpy as np

# The writers, importable from here as before.
from ind_prior_tf.data.prepare import (  # noqa: F401
  FORMAT_VERSION,
  META_FILE,
  SHARD_SIZE,
  SKIPPED_FILE,
  check_out_dir,
  prepare_celeba,
  prepare_cub,
  prepare_set,
  write_prepared,
)
from ind_prior_tf.data.raw import folder_digest, read_celeba, read_cub, read_folder
from ind_prior_tf.data.skips import short_exc
from ind_prior_tf.errors import DataError

_SHARD_RE = re.compile(r"^data-(\d{5})-of-(\d{5})\.tfrecord$")


def read_meta(prep_dir: str) -> dict:
  """Reads <prep_dir>/meta.json (DataError if missing or malformed)."""
  prep_dir = os.fspath(prep_dir)
  path = os.path.join(prep_dir, META_FILE)
  if not os.path.isfile(path):
    raise DataError(f"{path}: missing; run `make cub-prep` (python -m "
                    "data_prep.cub) first")
  try:
    with open(path) as f:
      meta = json.load(f)
    size, count = int(meta["size"]), int(meta["count"])
    meta["splits"]["train"], meta["splits"]["test"]  # pylint: disable=pointless-statement
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f"{path}: malformed meta.json ({short_exc(e)})") from None
  if size < 1 or count < 0:
    raise DataError(f"{path}: bad size/count {size}/{count}")
  return meta


def raw_record_index(prep_dir: str, raw_root: Optional[str] = None) -> dict:
  """{id: Record} (image path and box) of the raw set a prepared set was made from.

  The raw set is `raw_root` (read in the layout the prepared set was made from: CUB, CelebA or a
  folder of photos, whose boxes file meta.json records; CUB for any other set) or else the directory
  meta.json records as its source. A set made from no raw files, or a missing directory ->
  DataError.
  """
  meta = read_meta(prep_dir)
  kind, _, root = str(meta.get("source", "")).partition(":")
  if kind == "folder":
    return _folder_record_index(prep_dir, meta, raw_root or root, given=bool(raw_root))
  if raw_root:
    root, kind = raw_root, (kind if kind in ("cub", "celeba") else "cub")
  elif kind not in ("cub", "celeba"):
    raise DataError(f'{os.path.join(prep_dir, META_FILE)}: made from {meta.get("source")!r}, not '
                    'from raw CUB or CelebA files or a folder of photos; pass the raw set\'s '
                    'directory')
  if not os.path.isdir(root):
    raise DataError(f"{root}: no such directory (the raw images of {prep_dir}); pass the raw "
                    "set's directory")
  return {r.id: r for r in (read_cub(root) if kind == "cub" else read_celeba(root))}


def _folder_record_index(prep_dir: str, meta: dict, root: str, given: bool) -> dict:
  """raw_record_index of a set data_prep.folder made: the folder read again as at prep time (the
  photos in `root`, else where meta.json records them; its boxes file), checked against the digest
  of that first read, since ids are positions in the folder's listing."""
  path = os.path.join(prep_dir, META_FILE)
  if "folder_digest" not in meta:
    raise DataError(f"{path}: made by a data_prep.folder that did not record its boxes file; "
                    "prepare the set again (make folder-prep, or data_prep.folder --overwrite)")
  recorded = meta.get("folder_images") or root  # absolute: from any folder
  if not given and (os.path.isdir(recorded) or not os.path.isdir(root)):
    root = recorded
  if not os.path.isdir(root):
    raise DataError(f"{root}: no such folder (the photos {prep_dir} was prepared from); pass "
                    "--raw_root=<the folder of those photos>")
  boxes = meta.get("folder_boxes")
  if boxes and not os.path.isfile(boxes):
    raise DataError(f"{boxes}: no such file (the boxes file {prep_dir} was prepared with; "
                    "--raw_root names only the photos' folder): put it back, or prepare the set "
                    "again")
  masks = meta.get("folder_masks")
  # The masks' crops are in the prepared set: the raw masks are not needed, only nice to have.
  records = read_folder(root, boxes, masks if masks and os.path.isdir(masks) else None)
  if folder_digest(records, root) != meta["folder_digest"]:
    raise DataError(f"{root}: its photos or their boxes are not those {prep_dir} was prepared "
                    "from (photos added, removed or moved, boxes changed), so its ids would not "
                    "match; pass --raw_root=<the folder as it was>, or prepare the set again")
  return {r.id: r for r in records}


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
    raise DataError(f"{prep_dir}: no image with id {missing[0]} among the raw images "
                    f"({len(missing)} missing); is the raw set the one it was made from?")
  return [index[int(i)] for i in ids]


def _shard_files(prep_dir: str, meta: dict) -> list:
  files = sorted(glob.glob(os.path.join(glob.escape(prep_dir),
                                        "data-*-of-*.tfrecord")))
  names = [os.path.basename(f) for f in files]
  totals = {int(_SHARD_RE.match(n).group(2)) for n in names if _SHARD_RE.match(n)}
  if not files:
    raise DataError(f"{prep_dir}: no data-*-of-*.tfrecord shards")
  if len(totals) != 1 or len(files) != totals.pop():
    raise DataError(f"{prep_dir}: incomplete shards ({len(files)} files: "
                    f"{names[0]} ... {names[-1]})")
  return files


def _raw_dataset(prep_dir: str, split: str, with_masks: bool,
                 only_with_masks: bool):
  """Dataset of dicts with uint8 'image' [S,S,3] / 'mask' [S,S,1]."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if split not in ("all", "train", "test"):
    raise DataError(f"split={split!r}: expected 'all', 'train' or 'test'")
  prep_dir = os.fspath(prep_dir)
  meta = read_meta(prep_dir)
  size = int(meta["size"])
  files = _shard_files(prep_dir, meta)
  with_masks = with_masks or only_with_masks
  spec = {
      "image": tf.io.FixedLenFeature([], tf.string),
      "mask": tf.io.FixedLenFeature([], tf.string, default_value=b""),
      "has_mask": tf.io.FixedLenFeature([], tf.int64, default_value=0),
      "id": tf.io.FixedLenFeature([], tf.int64),
      "is_train": tf.io.FixedLenFeature([], tf.int64),
  }
  ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
  ds = ds.map(lambda s: tf.io.parse_single_example(s, spec),
              num_parallel_calls=tf.data.AUTOTUNE)
  if split == "train":
    ds = ds.filter(lambda e: tf.equal(e["is_train"], 1))
  elif split == "test":
    ds = ds.filter(lambda e: tf.equal(e["is_train"], 0))
  if only_with_masks:
    ds = ds.filter(lambda e: tf.equal(e["has_mask"], 1))

  def decode(e):
    image = tf.ensure_shape(tf.io.decode_png(e["image"], channels=3),
                            [size, size, 3])
    out = {"image": image, "has_mask": tf.equal(e["has_mask"], 1),
           "id": e["id"]}
    if with_masks:
      mask = tf.cond(
          out["has_mask"],
          lambda: tf.io.decode_png(e["mask"], channels=1),
          lambda: tf.zeros([size, size, 1], tf.uint8))
      out["mask"] = tf.ensure_shape(mask, [size, size, 1])
    return out

  return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE), meta


def prepared_dataset(prep_dir: str, split: str = "all", with_masks: bool = False,
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
    out["image"] = tf.cast(e["image"], tf.float32) / 255.0
    if "mask" in e:
      out["mask"] = tf.cast(e["mask"], tf.float32) / 255.0
    return out

  return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)


def load_prepared_arrays(prep_dir: str, split: str = "all",
                         only_with_masks: bool = False) -> dict:
  """Loads a (small) prepared set into memory.

  Returns {'images': uint8 [N,S,S,3], 'masks': float32 [N,S,S,1] (zeros where
  no mask), 'has_mask': bool [N], 'ids': int64 [N]} in shard order.  An empty
  selection gives N = 0 arrays.
  """
  ds, meta = _raw_dataset(prep_dir, split, True, only_with_masks)
  s = int(meta["size"])
  images, masks, has_mask, ids = [], [], [], []
  for b in ds.batch(256).as_numpy_iterator():
    images.append(b["image"])
    masks.append(b["mask"])
    has_mask.append(b["has_mask"])
    ids.append(b["id"])
  if not images:
    return {"images": np.zeros((0, s, s, 3), np.uint8),
            "masks": np.zeros((0, s, s, 1), np.float32),
            "has_mask": np.zeros((0,), bool), "ids": np.zeros((0,), np.int64)}
  return {
      "images": np.concatenate(images).astype(np.uint8),
      "masks": np.concatenate(masks).astype(np.float32) / 255.0,
      "has_mask": np.concatenate(has_mask).astype(bool),
      "ids": np.concatenate(ids).astype(np.int64),
  }
