"""The blob score of a HOC run (experiments.hoc_eval): how many learned layers are exactly one object
of the right size.

Independent layers are sampled from the run's last checkpoint (inference mode), each soft mask is
thresholded and labelled (8-connectivity); a layer passes when its mask is exactly one connected blob
whose area lies in the object-size range. For skimage:coins the range comes from the 24 coins of the
image (coins_reference_areas), scaled to patch size by (image_size / window)^2 and widened by the
tolerance on both ends; other images need the range given in px at patch scale.
"""
import dataclasses
import json
import os

import numpy as np

from ind_prior_tf import rundir
from ind_prior_tf.errors import FlagError


def coins_reference_areas(gray=None, min_area=400):
  """Areas (px of the full image) of the coins in skimage.data.coins().

  The region-based segmentation of scikit-image's coins gallery example: watershed of the Sobel
  elevation map from markers < 30 (table) and > 150 (coin), holes filled. Finds the 24 coins.
  """
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import data, filters, measure, segmentation  # pylint: disable=g-import-not-at-top
  gray = data.coins() if gray is None else gray
  markers = np.zeros(gray.shape, np.int32)
  markers[gray < 30] = 1
  markers[gray > 150] = 2
  regions = segmentation.watershed(filters.sobel(gray), markers) == 2
  labels = measure.label(ndimage.binary_fill_holes(regions))
  areas = np.array([r.area for r in measure.regionprops(labels)], np.float64)
  return areas[areas >= min_area]


def blob_stats(masks, area_range, threshold=0.5, min_speck=0):
  """Which masks are exactly one connected blob (8-connectivity) with an area in area_range.

  masks: [M, S, S, 1] soft masks; area_range: (lo, hi) in px at mask scale. Components smaller than
  min_speck px are ignored (0: strict, every component counts). Returns a dict of shares and means.
  """
  from skimage import measure  # pylint: disable=g-import-not-at-top
  lo, hi = area_range
  binary = np.asarray(masks)[..., 0] > threshold
  one, sized, counts = 0, 0, []
  for m in binary:
    labels = measure.label(m, connectivity=2)
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas >= max(min_speck, 1)]
    counts.append(len(areas))
    if len(areas) == 1:
      one += 1
      sized += int(lo <= areas[0] <= hi)
  total = max(len(binary), 1)
  soft = np.asarray(masks, np.float64)
  return dict(layers=len(binary), one_blob_share=one / total, one_coin_blob_share=sized / total,
              mean_blobs=float(np.mean(counts)) if counts else 0.0,
              empty_share=float(np.mean(np.array(counts) == 0)) if counts else 0.0,
              mean_soft_area=float(soft.mean()) if soft.size else 0.0,
              mean_binary_area=float(binary.mean()) if binary.size else 0.0)


def object_area_range(config, run):
  """(lo, hi, source): the object size in px at patch scale, from --area_range or the coins."""
  given = config.given_range()
  if given:
    return given[0], given[1], "--area_range"
  if run.get("image") != "skimage:coins":
    raise FlagError(f"--area_range=lo,hi: required for image {run.get('image')} (object size in "
                    "px at patch scale)")
  scale = (run["image_size"] / run["window"]) ** 2
  areas = coins_reference_areas() * scale
  t = config.tolerance
  return (float(areas.min()) * (1 - t), float(areas.max()) * (1 + t),
          f"{len(areas)} coins of skimage:coins, {areas.min():.0f}-{areas.max():.0f} px at patch "
          f"scale (mean {areas.mean():.0f}), tolerance {t}")


@dataclasses.dataclass
class BlobScore:
  """What evaluate returns: the report (eval.json's content) and where it and the figure went."""
  report: dict
  patch_area: int
  eval_json: str
  figure: str

  def summary(self):
    r, (lo, hi) = self.report, self.report["coin_area_px"]
    return (f"step {r['step']}, {r['layers']} layers: one blob {r['one_blob_share']:.3f}, one blob "
            f"of coin size {r['one_coin_blob_share']:.3f} (size {lo:.0f}-{hi:.0f} px of "
            f"{self.patch_area}), empty {r['empty_share']:.3f}, mean blobs {r['mean_blobs']:.2f}, "
            f"mean mask area {r['mean_soft_area']:.3f} (soft) {r['mean_binary_area']:.3f} "
            f"(thresholded); {self.eval_json}")


def evaluate(config):
  """Scores the run in config.logdir (a validated hoc_config.HocEvalConfig): writes
  <logdir>/eval.json and <logdir>/figures/eval_masks.png and returns a BlobScore. Every check (the
  run, the size range, the checkpoint) passes before anything is written."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from ind_prior_tf import hoc_figures, hoc_lib, pictures  # pylint: disable=g-import-not-at-top
  run = config.read_run()
  model = hoc_lib.HocConfig(**{k: run[k] for k in hoc_lib.config_fields() if k in run})
  lo, hi, source = object_area_range(config, run)
  gan = hoc_lib.HocGAN(model)
  latest = tf.train.latest_checkpoint(os.path.join(config.logdir, "ckpt"))
  if not latest:
    raise FlagError(f"{config.logdir}/ckpt: no checkpoint yet")
  tf.train.Checkpoint(generator=gan.generator).restore(latest).expect_partial()
  step = int(latest.rsplit("-", 1)[1])
  masks = gan.sample_masks(config.samples, seed=config.seed)
  stats = blob_stats(masks, (lo, hi), config.threshold, config.min_speck)
  patch_area = model.image_size ** 2
  report = dict(step=step, checkpoint=latest, threshold=config.threshold,
                min_speck=config.min_speck, coin_area_px=[lo, hi],
                coin_area_fraction=[lo / patch_area, hi / patch_area], size_source=source, **stats)
  eval_json = os.path.join(config.logdir, "eval.json")
  rundir.atomic_write_text(eval_json, json.dumps(report, indent=2))
  figure = os.path.join(config.logdir, "figures", "eval_masks.png")
  os.makedirs(os.path.dirname(figure), exist_ok=True)
  pictures.save_png(figure, hoc_figures.eval_masks_grid(gan.generator, model.z_dim, config.seed,
                                                        config.threshold))
  return BlobScore(report, patch_area, eval_json, figure)
