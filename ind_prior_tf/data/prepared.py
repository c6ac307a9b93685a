"""Prepared sets: box crops as TFRecord shards plus meta.json, written once and read by training.

Writing (``write_prepared``, ``prepare_set``; ``prepare_cub`` and ``prepare_celeba`` are the
data_prep entry points' work), reading (``read_meta``, ``prepared_dataset`` as
tf.data, ``load_prepared_arrays`` as numpy), and the raw records behind a set's examples
(``raw_record_index``, ``raw_records``). In tf.data images are float32 in [0, 1] and masks float32
HxWx1. TensorFlow is imported lazily, only by the writer and the readers.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image

from ind_prior_tf.data.boxes import crop_examples
from ind_prior_tf.data.raw import Record, folder_digest, read_celeba, read_cub, read_folder
from ind_prior_tf.data.skips import SkipLog, short_exc
from ind_prior_tf.errors import DataError
from ind_prior_tf.runtime import owned

SHARD_SIZE = 1000
META_FILE = "meta.json"
SKIPPED_FILE = "skipped.txt"
FORMAT_VERSION = 1
_SHARD_RE = re.compile(r"^data-(\d{5})-of-(\d{5})\.tfrecord$")


def _png_bytes(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format="PNG", compress_level=3)
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
      raise DataError(f"{out_dir}: exists and is not a directory")
    if os.listdir(out_dir) and not overwrite:
      raise DataError(f"{out_dir}: exists and is not empty (pass --overwrite "
                      "to replace it)")
    if os.listdir(out_dir):  # --overwrite replaces a prepared set, never a folder of anything else
      owned.check_ours(out_dir, "--out_dir", owned.LEGACY_PREPARED, "a prepared set")


def write_prepared(out_dir: str, examples_iter: Iterable[dict], size: int,
                   source: str, overwrite: bool = False,
                   skipped: Optional[SkipLog] = None,
                   shard_size: int = SHARD_SIZE, extra_meta: Optional[dict] = None) -> dict:
  """Writes a prepared set and returns its meta dict.

  examples: dicts {'image': uint8 [size,size,3], 'mask': float [size,size]
  (or [size,size,1]) or None, 'id': int, 'is_train': bool}.  Shards are
  written into `<out_dir>.tmp-<pid>` and renamed to out_dir at the end; an
  existing non-empty out_dir is refused (DataError) unless overwrite=True.
  With `skipped`, its list is written to skipped.txt.  `extra_meta` adds
  keys to meta.json after the common ones (a folder set's raw files).  Zero
  examples -> DataError and nothing is written.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  out_dir = os.path.normpath(os.fspath(out_dir))
  size = int(size)
  check_out_dir(out_dir, overwrite)
  tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
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
      image = np.asarray(ex["image"])
      if image.dtype != np.uint8 or image.shape != (size, size, 3):
        raise DataError(f'example {ex.get("id")}: image must be uint8 '
                        f'{(size, size, 3)}, got {image.dtype} {image.shape}')
      if writer is None or count % shard_size == 0:
        if writer is not None:
          writer.close()
        shard_paths.append(os.path.join(tmp_dir,
                                        f"data-{len(shard_paths):05d}.partial"))
        writer = tf.io.TFRecordWriter(shard_paths[-1])
      mask = ex.get("mask")
      has_mask = mask is not None
      feature = {
          "image": feat_bytes(_png_bytes(image)),
          "has_mask": feat_int(int(has_mask)),
          "id": feat_int(ex["id"]),
          "is_train": feat_int(int(bool(ex["is_train"]))),
      }
      if has_mask:
        m = _mask_to_uint8(mask)
        if m.shape != (size, size):
          raise DataError(f'example {ex.get("id")}: mask must be {(size, size)},'
                          f' got {m.shape}')
        feature["mask"] = feat_bytes(_png_bytes(m))
        n_masks += 1
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=feature)).SerializeToString())
      count += 1
      n_train += int(bool(ex["is_train"]))
    if writer is not None:
      writer.close()
    if count == 0:
      detail = f" ({skipped.summary()})" if skipped is not None else ""
      raise DataError(f"{out_dir}: no usable examples to write{detail}")
    k = len(shard_paths)
    shard_names = []
    for i, p in enumerate(shard_paths):
      name = f"data-{i:05d}-of-{k:05d}.tfrecord"
      os.rename(p, os.path.join(tmp_dir, name))
      shard_names.append(name)
    meta = {
        "format_version": FORMAT_VERSION,
        "size": size,
        "count": count,
        "has_masks": n_masks > 0,
        "mask_count": n_masks,
        "source": str(source),
        "splits": {"train": n_train, "test": count - n_train},
        "shards": shard_names,
        "skipped": len(skipped) if skipped is not None else 0,
        **(extra_meta or {}),
    }
    with open(os.path.join(tmp_dir, META_FILE), "w") as f:
      json.dump(meta, f, indent=2)
      f.write("\n")
    if skipped is not None:
      skipped.write(os.path.join(tmp_dir, SKIPPED_FILE))
    # Swap in atomically (re-check: someone may have created it meanwhile).
    check_out_dir(out_dir, overwrite)
    old = None
    if os.path.exists(out_dir):
      old = f"{out_dir}.old-{os.getpid()}"
      os.rename(out_dir, old)
    os.rename(tmp_dir, out_dir)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise
  return meta


def prepare_set(records: Sequence[Record], out_dir: str, size: int,
                source: str, overwrite: bool = False,
                extra_meta: Optional[dict] = None) -> dict:
  """Crops records (skipping bad items) and writes a prepared set.

  Skips from reading (``records.skipped`` when present) and from cropping
  are combined, summarised in the log and written to skipped.txt.  Returns
  meta (with meta['skipped_summary']).
  """
  out_dir = os.fspath(out_dir)
  check_out_dir(os.path.normpath(out_dir), overwrite)  # Fail before work.
  skipped = getattr(records, "skipped", None)
  if skipped is None:
    skipped = SkipLog(total=len(records))
  meta = write_prepared(out_dir, crop_examples(records, size, skipped), size,
                        source, overwrite=overwrite, skipped=skipped,
                        extra_meta=extra_meta)
  skipped.log_summary("images")
  meta["skipped_summary"] = skipped.summary("images")
  return meta


def prepare_cub(cub_root: str, out_dir: str, size: int, overwrite: bool = False,
                require_masks: bool = False) -> dict:
  """data_prep.cub: a CUB-layout set's box crops as a prepared set; returns its meta."""
  owned.check_apart([("--out_dir", out_dir, out_dir)], [("--cub_root", cub_root)])
  check_out_dir(out_dir, overwrite)  # before the (long) read of the list files
  records = read_cub(cub_root, require_masks=require_masks)
  return prepare_set(records, out_dir, size, source=f"cub:{cub_root}", overwrite=overwrite)


def prepare_celeba(celeba_root: str, out_dir: str, size: int, overwrite: bool = False,
                   max_images: Optional[int] = None) -> dict:
  """data_prep.celeba: CelebA's box crops (the first max_images listed) as a prepared set; returns
  its meta."""
  owned.check_apart([("--out_dir", out_dir, out_dir)], [("--celeba_root", celeba_root)])
  check_out_dir(out_dir, overwrite)
  records = read_celeba(celeba_root).first(max_images)
  return prepare_set(records, out_dir, size, source=f"celeba:{celeba_root}", overwrite=overwrite)


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
