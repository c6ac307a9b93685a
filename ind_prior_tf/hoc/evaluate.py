"""The blob score of a HOC run (experiments.hoc_eval): how many learned layers are exactly one object
of the right size.

Independent layers are sampled from the run's last checkpoint (inference mode), each soft mask is
thresholded and labelled (8-connectivity); a layer passes when its mask is exactly one connected blob
whose area lies in the object-size range. For skimage:coins the range comes from the 24 coins of the
image (coins_reference_areas), scaled to patch size by (image_size / window)^2 and widened by the
tolerance on both ends; other images need the range given in px at patch scale.

Beside it, what the blob score cannot see (`looks_stats`): how many layers' blobs touch the layer's
border (cut objects), how opaque the blobs are, and whether the carved instances have the colours of
the real objects (`object_pixels`: the coins of the coins segmentation, else the central disk of the
real patches).
"""
import dataclasses
import json
import os

import numpy as np

from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import rundir


def coins_segmentation(gray=None, min_area=400):
  """The coins of skimage.data.coins() as a boolean mask of the full image.

  The region-based segmentation of scikit-image's coins gallery example: watershed of the Sobel
  elevation map from markers < 30 (table) and > 150 (coin), holes filled; regions under min_area px
  dropped. Finds the 24 coins.
  """
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import data, filters, measure, segmentation  # pylint: disable=g-import-not-at-top
  gray = data.coins() if gray is None else gray
  markers = np.zeros(gray.shape, np.int32)
  markers[gray < 30] = 1
  markers[gray > 150] = 2
  regions = segmentation.watershed(filters.sobel(gray), markers) == 2
  labels = measure.label(ndimage.binary_fill_holes(regions))
  areas = np.bincount(labels.ravel())
  keep = areas >= min_area
  keep[0] = False
  return keep[labels]


def coins_reference_areas(gray=None, min_area=400):
  """Areas (px of the full image) of the coins in skimage.data.coins() (coins_segmentation)."""
  from skimage import measure  # pylint: disable=g-import-not-at-top
  labels = measure.label(coins_segmentation(gray, min_area))
  return np.array([r.area for r in measure.regionprops(labels)], np.float64)


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


def saturation(rgb):
  """HSV saturation (max - min) / max of RGB pixels [..., 3] in [0, 1]; 0 for black."""
  rgb = np.asarray(rgb, np.float64)
  hi, lo = rgb.max(-1), rgb.min(-1)
  return np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-12), 0.0)


def colour_stats(pixels):
  """Per-channel mean and std and mean saturation of RGB pixels [M, 3] in [0, 1]."""
  pixels = np.asarray(pixels, np.float64).reshape(-1, 3)
  if not len(pixels):
    return dict(rgb_mean=[float("nan")] * 3, rgb_std=[float("nan")] * 3, saturation=float("nan"))
  return dict(rgb_mean=[float(v) for v in pixels.mean(0)], rgb_std=[float(v) for v in pixels.std(0)],
              saturation=float(saturation(pixels).mean()))


def central_disk_pixels(patches, radius):
  """The pixels [M, 3] in [0, 1] of the central disk of radius `radius` px of every patch [P, S, S, 3]
  (where the instances of a real patch sit when the disk backgrounds hide them)."""
  patches = np.asarray(patches)
  from ind_prior_tf.data import pools  # pylint: disable=g-import-not-at-top
  pixels = patches[:, pools.centre_disk(patches.shape[1], patches.shape[2], radius)].reshape(-1, 3)
  return pixels / 255.0 if pixels.dtype == np.uint8 else pixels.astype(np.float64)


def looks_stats(rgba, object_pixels, threshold=0.5):
  """What the blob score cannot see, for sampled instances rgba [M, S, S, 4] in [0, 1] (before layout):

    border_share     share of layers whose thresholded mask touches the layer's 1 px border: an object
                     cut by its own frame (the layout's crop may cut it later, as real patches do);
    mean_blob_alpha  the mean soft alpha inside each layer's thresholded mask, averaged over layers, an
                     empty layer counting 0 (a faint layer scores low);
    instance / real  colour_stats of the carved instances' pixels (RGB x alpha) where alpha > threshold,
                     and of object_pixels [M, 3], the real objects' pixels;
    rgb_mean_gap     the largest |instance - real| channel mean (also rgb_std_gap, saturation_gap).
  """
  rgba = np.asarray(rgba, np.float64)
  alpha = rgba[..., 3]
  binary = alpha > threshold
  border = binary[:, 0, :].any(-1) | binary[:, -1, :].any(-1) | binary[:, :, 0].any(-1) | \
      binary[:, :, -1].any(-1)
  inside = binary.sum((1, 2))
  blob_alpha = np.where(inside > 0, (alpha * binary).sum((1, 2)) / np.maximum(inside, 1), 0.0)
  carved = rgba[..., :3] * rgba[..., 3:]
  fake, real = colour_stats(carved[binary]), colour_stats(object_pixels)
  gap = lambda k: float(np.max(np.abs(np.subtract(fake[k], real[k]))))
  return dict(border_share=float(border.mean()) if len(border) else 0.0,
              mean_blob_alpha=float(blob_alpha.mean()) if len(blob_alpha) else 0.0,
              instance=fake, real=real, rgb_mean_gap=gap("rgb_mean"), rgb_std_gap=gap("rgb_std"),
              saturation_gap=abs(fake["saturation"] - real["saturation"]))


def object_pixels(run, model):
  """(pixels [M, 3] in [0, 1], source): the real objects' pixels the instances' colours are compared
  with. skimage:coins: the coins of coins_segmentation; another image: the central disk (radius
  --disk_radius) of its real patches, cut as the run cut them."""
  from ind_prior_tf.data import images, pools  # pylint: disable=g-import-not-at-top
  if run.get("image") == "skimage:coins":
    from skimage import data  # pylint: disable=g-import-not-at-top
    gray = data.coins()
    pixels = np.repeat(gray[coins_segmentation(gray)][:, None], 3, 1) / 255.0
    return pixels, "the coins of the coins segmentation"
  image = images.load_image_spec(run["image"])
  patches = pools.extract_patches(image, run["window"], run["stride"], out_size=model.image_size,
                                  hflip=run.get("hflip", False), vflip=run.get("vflip", False))
  return (central_disk_pixels(patches, model.disk_radius),
          f"the central disks (radius {model.disk_radius:g} px) of {len(patches)} real patches")


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

  def looks_summary(self):
    r = self.report
    fake, real = r["instance"], r["real"]
    rgb = lambda v: "/".join(f"{x:.3f}" for x in v)
    return (f"blobs touching the border {r['border_share']:.3f}, mean alpha in the blob "
            f"{r['mean_blob_alpha']:.3f}; colour of the carved instances (alpha > {r['threshold']}) "
            f"against the real objects: mean {rgb(fake['rgb_mean'])} vs {rgb(real['rgb_mean'])} "
            f"(gap {r['rgb_mean_gap']:.3f}), std {rgb(fake['rgb_std'])} vs {rgb(real['rgb_std'])}, "
            f"saturation {fake['saturation']:.3f} vs {real['saturation']:.3f}")


SCALARS = ("one_blob_share", "one_coin_blob_share", "empty_share", "mean_blobs", "mean_soft_area",
           "border_share", "mean_blob_alpha", "rgb_mean_gap", "rgb_std_gap", "saturation_gap")


def write_scalars(folder, report):
  """The report's scores as TensorBoard scalars eval/<name> at the checkpoint's step (their own event
  file in `folder`, beside the training's)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  writer = tf.summary.create_file_writer(folder, filename_suffix=".eval")
  with writer.as_default(step=report["step"]):
    for name in SCALARS:
      tf.summary.scalar(f"eval/{name}", report[name])
    for i, channel in enumerate("rgb"):
      tf.summary.scalar(f"eval/instance_mean_{channel}", report["instance"]["rgb_mean"][i])
    tf.summary.scalar("eval/instance_saturation", report["instance"]["saturation"])
  writer.close()


def evaluate(config):
  """Scores the run in config.logdir (a validated hoc_config.HocEvalConfig): writes
  <logdir>/eval.json and <logdir>/figures/eval_masks.png and returns a BlobScore. Every check (the
  run, the size range, the checkpoint) passes before anything is written."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from ind_prior_tf.hoc import figures as hoc_figures  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.hoc import gan as hoc_lib
  from ind_prior_tf.runtime import pictures
  run = config.read_run()
  model = hoc_lib.run_model(run)
  lo, hi, source = object_area_range(config, run)
  latest = tf.train.latest_checkpoint(os.path.join(config.logdir, "ckpt"))
  if not latest:
    raise FlagError(f"{config.logdir}/ckpt: no checkpoint yet")
  gan = hoc_lib.restored_gan(model, latest)
  step = int(latest.rsplit("-", 1)[1])
  pixels, colour_source = object_pixels(run, model)
  rgba = gan.sample_instances(config.samples, seed=config.seed)
  stats = blob_stats(rgba[..., 3:], (lo, hi), config.threshold, config.min_speck)
  patch_area = model.image_size ** 2
  report = dict(step=step, checkpoint=latest, threshold=config.threshold,
                min_speck=config.min_speck, coin_area_px=[lo, hi],
                coin_area_fraction=[lo / patch_area, hi / patch_area], size_source=source, **stats,
                **looks_stats(rgba, pixels, config.threshold), colour_source=colour_source)
  eval_json = os.path.join(config.logdir, "eval.json")
  rundir.atomic_write_text(eval_json, json.dumps(report, indent=2))
  write_scalars(os.path.join(config.logdir, "tb"), report)
  figure = os.path.join(config.logdir, "figures", "eval_masks.png")
  os.makedirs(os.path.dirname(figure), exist_ok=True)
  pictures.save_png(figure, hoc_figures.eval_masks_grid(gan.generator, model.z_dim, config.seed,
                                                        config.threshold))
  return BlobScore(report, patch_area, eval_json, figure)
