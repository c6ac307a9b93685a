"""Writing prepared sets: box crops as TFRecord shards plus meta.json, written into a temporary
folder and swapped in (``write_prepared``, ``prepare_set``; ``prepare_cub`` and ``prepare_celeba`` are
the data_prep entry points' work). prepared.py reads them. TensorFlow is imported lazily.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image

from ind_prior_tf.data.boxes import crop_examples
from ind_prior_tf.data.raw import Record, read_celeba, read_cub
from ind_prior_tf.data.skips import SkipLog
from ind_prior_tf.errors import DataError
from ind_prior_tf.runtime import owned

SHARD_SIZE = 1000
META_FILE = "meta.json"
SKIPPED_FILE = "skipped.txt"
FORMAT_VERSION = 1


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


def _example_proto(tf, ex, size):
  """(serialized tf.train.Example, has a mask) of one example, after checking its shapes."""
  image = np.asarray(ex["image"])
  if image.dtype != np.uint8 or image.shape != (size, size, 3):
    raise DataError(f'example {ex.get("id")}: image must be uint8 '
                    f'{(size, size, 3)}, got {image.dtype} {image.shape}')

  def feat_int(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

  def feat_bytes(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

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
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(), has_mask


def _write_shards(tmp_dir, examples_iter, size, shard_size):
  """Writes the examples into shards in tmp_dir, named data-<i>-of-<k>.tfrecord once all are
  written; returns (shard names, count, train count, mask count)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  count = n_train = n_masks = 0
  shard_paths = []
  writer = None
  for ex in examples_iter:
    record, has_mask = _example_proto(tf, ex, size)
    if writer is None or count % shard_size == 0:
      if writer is not None:
        writer.close()
      shard_paths.append(os.path.join(tmp_dir, f"data-{len(shard_paths):05d}.partial"))
      writer = tf.io.TFRecordWriter(shard_paths[-1])
    writer.write(record)
    count += 1
    n_train += int(bool(ex["is_train"]))
    n_masks += int(has_mask)
  if writer is not None:
    writer.close()
  k = len(shard_paths)
  shard_names = []
  for i, p in enumerate(shard_paths):
    name = f"data-{i:05d}-of-{k:05d}.tfrecord"
    os.rename(p, os.path.join(tmp_dir, name))
    shard_names.append(name)
  return shard_names, count, n_train, n_masks


def _swap_in(tmp_dir, out_dir, overwrite):
  """Renames tmp_dir to out_dir, replacing an old out_dir (re-checked: someone may have created it
  meanwhile)."""
  check_out_dir(out_dir, overwrite)
  old = None
  if os.path.exists(out_dir):
    old = f"{out_dir}.old-{os.getpid()}"
    os.rename(out_dir, old)
  os.rename(tmp_dir, out_dir)
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)


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
  out_dir = os.path.normpath(os.fspath(out_dir))
  size = int(size)
  check_out_dir(out_dir, overwrite)
  tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
  if os.path.exists(tmp_dir):
    shutil.rmtree(tmp_dir)
  os.makedirs(tmp_dir)
  try:
    shard_names, count, n_train, n_masks = _write_shards(tmp_dir, examples_iter, size, shard_size)
    if count == 0:
      detail = f" ({skipped.summary()})" if skipped is not None else ""
      raise DataError(f"{out_dir}: no usable examples to write{detail}")
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
    _swap_in(tmp_dir, out_dir, overwrite)
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
