"""Scores a hoc.py run: how many learned layers are exactly one object of the right size.

  python -m experiments.hoc_eval --logdir=runs/hoc_coins_cpu

Samples --samples independent layers from the run's last checkpoint (inference mode), thresholds each
soft mask at --threshold and labels it (8-connectivity). A layer passes when its mask is exactly one
connected blob whose area lies in the object-size range. For skimage:coins the range comes from the
24 coins of the image (region-based segmentation as in scikit-image's coins example), scaled to patch
size by (image_size / window)^2 and widened by --tolerance on both ends; for other images give
--area_range=lo,hi in px at patch scale. Writes <logdir>/eval.json and <logdir>/figures/eval_masks.png.
"""
import dataclasses
import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("logdir", None, "Run directory of experiments/hoc.py.")
flags.DEFINE_integer("samples", 1024, "Layers sampled.")
flags.DEFINE_float("threshold", 0.5, "Mask threshold.")
flags.DEFINE_float("tolerance", 0.25, "Relative widening of the coin-size range on both ends.")
flags.DEFINE_string("area_range", None, "lo,hi: object size in px at patch scale (non-coins images).")
flags.DEFINE_integer("min_speck", 0, "Ignore mask components smaller than this many px (0: strict).")
flags.DEFINE_integer("seed", 0, "Seed of the sampled codes.")

FLAGS = flags.FLAGS


class FlagError(ValueError):
  pass


def area_range(run, hoc_lib):
  """(lo, hi, source) in px at patch scale."""
  if FLAGS.area_range:
    try:
      lo, hi = (float(x) for x in FLAGS.area_range.split(","))
    except ValueError:
      raise FlagError(f"--area_range={FLAGS.area_range}: expected lo,hi (px)") from None
    return lo, hi, "--area_range"
  if run.get("image") != "skimage:coins":
    raise FlagError(f"--area_range=lo,hi: required for image {run.get('image')} (object size in "
                    "px at patch scale)")
  scale = (run["image_size"] / run["window"]) ** 2
  areas = hoc_lib.coins_reference_areas() * scale
  t = FLAGS.tolerance
  return (float(areas.min()) * (1 - t), float(areas.max()) * (1 + t),
          f"{len(areas)} coins of skimage:coins, {areas.min():.0f}-{areas.max():.0f} px at patch "
          f"scale (mean {areas.mean():.0f}), tolerance {t}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf import hoc_lib, training  # pylint: disable=g-import-not-at-top
  from ind_prior_tf import pictures, rundir  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    if not FLAGS.logdir:
      raise FlagError("--logdir: required (a run directory of experiments/hoc.py)")
    flags_path = os.path.join(FLAGS.logdir, "flags.json")
    if not os.path.isfile(flags_path):
      raise FlagError(f"{flags_path}: missing; is --logdir a hoc.py run?")
    with open(flags_path) as f:
      run = json.load(f)
    config = hoc_lib.HocConfig(**{k: run[k] for k in hoc_lib.config_fields() if k in run})
    lo, hi, source = area_range(run, hoc_lib)
    if FLAGS.samples < 1:
      raise FlagError(f"--samples={FLAGS.samples}: must be >= 1")
    gan = hoc_lib.HocGAN(config)
    latest = tf.train.latest_checkpoint(os.path.join(FLAGS.logdir, "ckpt"))
    if not latest:
      raise FlagError(f"{FLAGS.logdir}/ckpt: no checkpoint yet")
    tf.train.Checkpoint(generator=gan.generator).restore(latest).expect_partial()
    step = int(latest.rsplit("-", 1)[1])
  except (FlagError, training.RunError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  masks = gan.sample_masks(FLAGS.samples, seed=FLAGS.seed)
  stats = hoc_lib.blob_stats(masks, (lo, hi), FLAGS.threshold, FLAGS.min_speck)
  patch_area = config.image_size ** 2
  result = dict(step=step, checkpoint=latest, threshold=FLAGS.threshold, min_speck=FLAGS.min_speck,
                coin_area_px=[lo, hi], coin_area_fraction=[lo / patch_area, hi / patch_area],
                size_source=source, **stats)
  rundir.atomic_write_text(os.path.join(FLAGS.logdir, "eval.json"),
                             json.dumps(result, indent=2))
  # The first 16 layers: appearance, soft mask, thresholded mask.
  rgba = gan.generator(tf.random.Generator.from_seed(FLAGS.seed).uniform(
      [16, config.z_dim], -1.0, 1.0), training=False).numpy()
  grid = pictures.image_grid([rgba[..., :3], rgba[..., 3:],
                              (rgba[..., 3:] > FLAGS.threshold).astype(np.float32)])
  os.makedirs(os.path.join(FLAGS.logdir, "figures"), exist_ok=True)
  pictures.save_png(os.path.join(FLAGS.logdir, "figures", "eval_masks.png"), grid)
  print(f"step {step}, {stats['layers']} layers: one blob {stats['one_blob_share']:.3f}, one blob "
        f"of coin size {stats['one_coin_blob_share']:.3f} (size {lo:.0f}-{hi:.0f} px of "
        f"{patch_area}), empty {stats['empty_share']:.3f}, mean blobs {stats['mean_blobs']:.2f}, "
        f"mean mask area {stats['mean_soft_area']:.3f} (soft) {stats['mean_binary_area']:.3f} "
        f"(thresholded); {FLAGS.logdir}/eval.json", flush=True)


if __name__ == "__main__":
  app.run(main)
