"""What a refinement chain reads, checked before it runs or prints its plan (--dry_run): the prepared
set, the two pools and, for GrabCut or the CRF on the photo, the raw images where --raw_root names them
(else the stages find them through the set's meta.json); and its folder apart from them. TensorFlow-free."""
import os

from ind_prior_tf.refine.config import ConfigError, prepared_meta
from ind_prior_tf.runtime import owned


def check(config):
  """ConfigError (one line naming the flag) for the first input of RefineConfig `config` that is
  missing, or a --chain that is, holds or lies inside one of them."""
  prepared_meta(config.prepared)  # the set's meta.json, read as the chain reads it
  for name in ("backgrounds", "student_backgrounds"):
    path = getattr(config, name)
    if not os.path.isfile(path):
      raise ConfigError(f"--{name}={path}: no such pool file; make it first (make <dataset>-prep) "
                        f"or give --{name}")
  reads_raw = config.grabcut or (config.crf_weight and config.crf_context)
  if reads_raw and config.raw_root and not os.path.isdir(config.raw_root):
    raise ConfigError(f"--raw_root={config.raw_root}: no such folder (GrabCut and the CRF on the "
                      "photo read the raw images); give --raw_root")
  owned.check_apart([("--chain", config.chain, config.chain)],
                    [("--prepared", config.prepared), ("--backgrounds", config.backgrounds),
                     ("--student_backgrounds", config.student_backgrounds),
                     ("--raw_root", config.raw_root if reads_raw else None)])
