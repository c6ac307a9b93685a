"""Preparing your own category from a plain folder of photos (data_prep.folder's job): the box crops as a
prepared set, exactly as data_prep.cub writes one, and a background pool beside it.

The photos are read by raw.read_folder (subfolders included, EXIF orientation applied, optional boxes
file and masks folder, every image in the train split). The pool's patches come from outside the boxes
(the paper's "patches without any foreground region from the original given images") or, without
boxes (whole images have no outside), from a folder of natural photos. TensorFlow-free until the
prepared set is written, so that every flag and file is checked before its import and before anything
is written.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import owned


@dataclasses.dataclass
class FolderPrepConfig:
  """What data_prep.folder prepares (see its flags for each field)."""
  images: Optional[str] = None
  out_dir: Optional[str] = None
  boxes: Optional[str] = None
  masks: Optional[str] = None
  backgrounds: Optional[str] = None
  pool: Optional[str] = None
  size: int = 128
  count: int = 2000
  seed: int = 0
  max_zoom: Optional[float] = None
  overwrite: bool = False

  def pool_path(self) -> str:
    """--pool, by default <out_dir>_bg.npz beside the prepared set (as prepared/cub_bg.npz)."""
    return self.pool or os.path.normpath(self.out_dir) + "_bg.npz"

  def validate(self) -> 'FolderPrepConfig':
    """The flags' values alone (no file is read)."""
    for name in ("images", "out_dir"):
      if not getattr(self, name):
        raise FlagError(f"--{name}: required")
    if self.size < 1:
      raise FlagError(f"--size={self.size}: must be >= 1")
    if self.count < 1:
      raise FlagError(f"--count={self.count}: must be >= 1")
    if self.max_zoom is not None and not self.max_zoom > 0:
      raise FlagError(f"--max_zoom={self.max_zoom}: must be > 0")
    if not self.boxes and not self.backgrounds:
      raise FlagError("--backgrounds: required without --boxes (the background pool comes from "
                      "outside the boxes, and a whole image has no outside): give a folder of "
                      "photos without the object")
    return self

  def check_files(self) -> 'FolderPrepConfig':
    """The flags' paths, before any image is read: the inputs exist, and neither output would
    replace something without --overwrite."""
    from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
    for name in ("images", "masks", "backgrounds"):
      path = getattr(self, name)
      if path and not os.path.isdir(path):
        raise FlagError(f"--{name}={path}: no such folder")
    if self.boxes and not os.path.isfile(self.boxes):
      raise FlagError(f"--boxes={self.boxes}: no such file")
    pool = self.pool_path()
    owned.check_apart([("--out_dir", self.out_dir, self.out_dir), ("--pool", pool, pool)],
                      [(f"--{n}", getattr(self, n)) for n in ("images", "masks", "boxes",
                                                                "backgrounds")])
    prepared.check_out_dir(self.out_dir, self.overwrite)
    if os.path.isdir(pool):
      raise FlagError(f"--pool={pool}: is a directory")
    if os.path.exists(pool) and not self.overwrite:
      raise FlagError(f"--pool={pool}: exists (pass --overwrite to replace it)")
    if not os.path.isdir(os.path.dirname(os.path.abspath(pool))):
      raise FlagError(f"--pool={pool}: its folder does not exist")
    return self


@dataclasses.dataclass
class FolderPrepared:
  """What prepare_folder returns: the prepared set's meta.json (with its skipped_summary), the pool's
  path and patch count, and where the pool's patches came from."""
  meta: dict
  pool: str
  patches: int
  pool_source: str


def prepare_folder(config: FolderPrepConfig, log=print) -> FolderPrepared:
  """Checks every flag and file, reads the folder, builds the background pool in memory, then writes
  the prepared set (prepared.prepare_set) and the pool (pools.save_pool). A pool that cannot be built
  (no strip outside the boxes wide enough, no readable background photo) is a DataError before
  anything is written."""
  from ind_prior_tf.data import images, pools, prepared, raw  # pylint: disable=g-import-not-at-top
  config.validate().check_files()
  records = raw.read_folder(config.images, config.boxes, config.masks,
                            exclude=[(config.backgrounds, "the --backgrounds folder")])
  n_masks = sum(r.mask_path is not None for r in records)
  log(f"reading {len(records)} images of {config.images}"
      + (f" ({records.excluded})" if records.excluded else "")
      + (f", boxes from {config.boxes}" if config.boxes else ", whole images (no boxes)")
      + (f", {n_masks} with a mask in {config.masks}" if config.masks else ""))
  if config.backgrounds:
    paths = images.list_images(config.backgrounds, recursive=True)
    patches = pools.background_patches(paths, config.size, config.count, config.seed)
    source = f"{len(paths)} photos in {config.backgrounds}"
  else:
    patches = pools.outside_box_patches(records, config.size, config.count, config.seed,
                                        max_zoom=config.max_zoom)
    source = f"outside the boxes of {config.images}"
  # What prepared.raw_record_index needs to read the same records again (GrabCut and the colour CRF
  # on the photos), the paths absolute so that a run from another folder finds them.
  absolute = lambda path: os.path.abspath(path) if path else None
  raw_files = dict(folder_images=absolute(config.images), folder_boxes=absolute(config.boxes),
                   folder_masks=absolute(config.masks),
                   folder_digest=raw.folder_digest(records, config.images))
  meta = prepared.prepare_set(records, config.out_dir, config.size,
                              source=f"folder:{config.images}", overwrite=config.overwrite,
                              extra_meta=raw_files)
  pool = config.pool_path()
  pools.save_pool(pool, patches)
  return FolderPrepared(meta, pool, int(patches.shape[0]), source)
