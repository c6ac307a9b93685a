"""The Python API: load a run, segment photos, get the masks experiments.segment would write.

  from ind_prior_tf import api
  seg = api.load("runs/folder-refine/ensemble")     # the run's own post-processing, as the CLI
  mask = seg.segment("photo.jpg", box=(x, y, w, h))  # float32 [H, W] in [0, 1], 0 outside the box
  seg.post.describe()                                # what was done to the network's masks

The mask is the very one experiments.segment writes for the same photo and box (written as
round(mask * 255)); `postprocess="none"` gives the network's masks, any PostConfig field given as a
keyword overrides the recipe's value (as a flag does on the command line).
"""
import dataclasses
import os
from typing import Optional

import numpy as np

from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.apply import segment_files
from ind_prior_tf.data import images as images_lib
from ind_prior_tf.postprocess import stage as postprocess


@dataclasses.dataclass
class Segmenter:
  """A loaded run: its model, checkpoint and post-processing (post, and where it came from)."""
  run_dir: str
  model: object
  checkpoint: str
  post: postprocess.PostConfig
  post_source: str
  threshold: Optional[float] = None

  def __post_init__(self):
    self._predict = segmenter.predictor(self.model, self.post.flip_average,
                                        self.post.shift_average)

  def segment_many(self, photos, boxes=None):
    """Masks of photos (paths, or uint8 [H, W, 3] RGB arrays), each cropped by its box ((x, y, w,
    h) in pixels, or None for the whole photo): [float32 [H, W]], as segment would write them."""
    boxes = [None] * len(photos) if boxes is None else list(boxes)
    if len(boxes) != len(photos):
      raise ValueError(f"{len(photos)} photos but {len(boxes)} boxes")
    size = self.model.input_shape[1]
    images, crops, regions = [], [], []
    for photo, box in zip(photos, boxes):
      image = (images_lib.load_image_rgb(os.fspath(photo)) if isinstance(photo, (str, os.PathLike))
               else np.asarray(photo, np.uint8))
      if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
      crop, region = segment_files.crop_for_segmenter(image, box, size)
      images.append(image)
      crops.append(crop)
      regions.append(region)
    if not images:
      return []
    return segment_files.segment_batch(self.post, self._predict, images, regions, crops,
                                       self.threshold)

  def segment(self, photo, box=None):
    """The mask of one photo (a path or uint8 [H, W, 3] RGB), optionally cropped by its box (x, y,
    w, h): float32 [H, W] in [0, 1] (0 outside the box)."""
    return self.segment_many([photo], [box])[0]


def load(run_dir, postprocess="run", checkpoint=None, threshold=None, **overrides):
  """A Segmenter of run_dir (a teacher, a student or an ensemble) with the post-processing of
  --postprocess=`postprocess` ("run": the run's postprocess.json, or none; "none"; "chain"; or a
  postprocess.json path) and any PostConfig field given as a keyword (flip_average=True, ...)."""
  apply_config.check_run_dir(run_dir, "run_dir")
  post, source = apply_config.resolve_post(postprocess, run_dir, overrides)
  model, _, ckpt = segmenter.load_run_segmenter(run_dir, checkpoint)
  return Segmenter(run_dir, model, ckpt, post, source, threshold)
