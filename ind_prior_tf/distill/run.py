"""Data distillation as one call, `distill(config)`: what experiments/distill.py runs.

It checks every flag and file first (nothing is written before they pass), loads the teacher, the
prepared set and the background pool, prepares the student's run directory (or returns at once when
the run there is already finished: a rerun of a refinement chain's stage labels nothing), labels every
image with the teacher (`label`: flip-averaged and GrabCut-refined when asked, at the student's size,
the most flip-consistent kept) and trains the student (distill_lib.train). Progress lines go to
`log`; the result is returned.
"""
import dataclasses
import time
from typing import Optional

import numpy as np

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.data import pools, prepared
from ind_prior_tf.distill import model as distill_lib
from ind_prior_tf.distill.config import RESUME_DEFAULTS, DistillConfig
from ind_prior_tf.errors import DataError, FlagError
from ind_prior_tf.runtime import devices, progress, rundir, training


def say(line):
  print(line, flush=True)


@dataclasses.dataclass
class Inputs:
  """What a distillation reads, loaded and checked."""
  config: DistillConfig       # with the teacher's architecture wherever the student's was None
  teacher: object             # the teacher UNet (frozen)
  teacher_flags: dict         # its run's flags.json
  teacher_checkpoint: str     # the checkpoint it was loaded from
  data: dict                  # prepared.load_prepared_arrays
  records: Optional[list]     # the raw records of data's images, for GrabCut (None without it)
  pool: np.ndarray            # background patches


@dataclasses.dataclass
class Labels:
  """The teacher's labels at the student's size and what the student learns from and is scored on."""
  images: np.ndarray          # uint8 [N, S, S, 3]: every image, at the student's size
  masks: np.ndarray           # uint8 [N, S, S, 1]: the teacher's labels of them
  train_images: np.ndarray    # the images the student learns from (all, or the label_keep most
  train_masks: np.ndarray     # flip-consistent) and their labels
  eval_data: Optional[tuple]  # (images, ground-truth masks, labels) of the masked crops scored
  scored: int                 # how many masked crops are scored


def load_inputs(config):
  """Inputs of a validated config (validate().check_files()); errors name the flag or file."""
  teacher, teacher_flags, teacher_ckpt = segmenter.load_run_segmenter(config.teacher,
                                                                      config.teacher_checkpoint)
  config = config.with_teacher(*segmenter.unet_spec(teacher_flags))
  data = prepared.load_prepared_arrays(config.prepared, split=config.split)
  if len(data["images"]) < 1:
    raise FlagError(f"--prepared={config.prepared}: no images in split {config.split!r}")
  records = None
  if config.grabcut_iters:
    try:
      from ind_prior_tf.postprocess import grabcut  # pylint: disable=g-import-not-at-top
      grabcut.require_opencv()
      records = prepared.raw_records(config.prepared, data["ids"], config.raw_root)
    except (ImportError, ValueError) as e:
      raise FlagError(f"--grabcut_iters: {e}") from None
  pool = pools.load_pool(config.backgrounds)
  if pool.shape[1] < config.image_size:
    raise FlagError(f"--backgrounds={config.backgrounds}: patches are {pool.shape[1]}x"
                    f"{pool.shape[2]}, smaller than the student's {config.image_size}; "
                    "make a pool of larger patches")
  return Inputs(config, teacher, teacher_flags, teacher_ckpt, data, records, pool)


def label(inputs, log=say):
  """The teacher's labels of every image (uint8, at the student's size): flip-averaged with
  config.flip_average_labels, then refined by GrabCut with config.grabcut_iters; the images resized to
  the student's size; the first eval_count masked crops kept for scoring; with label_keep < 1 only the
  images whose labels are the most flip-consistent are learned from."""
  c, data = inputs.config, inputs.data
  size, images = c.image_size, data["images"]
  log(f"teacher {inputs.teacher_checkpoint} ({inputs.teacher_flags.get('image_size')} px, width "
      f"{inputs.teacher_flags.get('width')}); labelling {len(images)} images ...")
  masks = distill_lib.teacher_labels(inputs.teacher, images, out_size=size,
                                     flip_average=c.flip_average_labels)
  if inputs.records is not None:
    from ind_prior_tf.postprocess import grabcut  # pylint: disable=g-import-not-at-top
    start, before = time.time(), masks.mean() / 255.0
    bar = progress.ProgressBar(len(masks), every=50, enabled=c.progress)
    try:
      masks = grabcut.refine_labels(inputs.records, masks, c.grabcut_iters,
                                    progress=lambda done, _: bar.update(done))
    except ValueError as e:  # an unreadable raw image: nothing written yet but flags.json
      raise DataError(f"--grabcut_iters: {e}") from None
    bar.close()
    log(f"labels refined by GrabCut ({c.grabcut_iters} iterations) in "
        f"{time.time() - start:.0f} s; mean mask area {before:.3f} -> {masks.mean() / 255.0:.3f}")
  if images.shape[1] != size:
    images = np.round(segmenter.resize(images / 255.0, size).numpy() * 255.0)
    images = images.astype(np.uint8)
  eval_data = None
  scored = np.flatnonzero(data["has_mask"])[:c.eval_count]
  if len(scored):
    gt = segmenter.resize(data["masks"][scored], size).numpy()
    eval_data = (images[scored], gt, masks[scored])
  train_images, train_masks = images, masks
  if c.label_keep < 1:
    consistency = distill_lib.flip_consistency(inputs.teacher, images, masks)
    kept = distill_lib.most_consistent(consistency, c.label_keep)
    train_images, train_masks = images[kept], masks[kept]
    log(f"keeping the labels of {len(kept)} of {len(images)} images (flip consistency >= "
        f"{consistency[kept].min():.3f}; median of all {np.median(consistency):.3f})")
  return Labels(images, masks, train_images, train_masks, eval_data, len(scored))


def distill(config, log=say):
  """Runs (or resumes) the distillation `config` describes; returns distill_lib.train's result (step,
  status 'done' / 'interrupted', losses, eval scores, checkpoint) with `finished_before` (the run was
  already at config.steps: nothing labelled or trained), `devices` (where it trained: see
  devices.announce), `label_area` (the mean of the teacher's labels) and `kept` (the images learned
  from). FlagError, DataError or RunError before anything is written when an input is bad;
  training.NonFiniteLossError when a loss becomes NaN or Inf."""
  config.validate().check_files()
  inputs = load_inputs(config)
  c = inputs.config
  flags_json = c.flags_json(inputs.teacher_checkpoint)
  training.set_determinism(c.seed, c.deterministic)
  strategy = training.make_strategy(c.strategy)
  if c.batch_size % strategy.num_replicas_in_sync:
    raise FlagError(f"--batch_size={c.batch_size}: not divisible by the "
                    f"{strategy.num_replicas_in_sync} replicas")
  if c.overwrite:
    rundir.fresh_start(c.logdir, ("ckpt", "tb", "samples"))
  rundir.prepare_logdir(c.logdir, flags_json, overwrite=c.overwrite, defaults=RESUME_DEFAULTS,
                        kind="distill")

  done, latest = rundir.saved_step(c.logdir)
  if done >= c.steps:  # a rerun of a finished stage (make horse-refine): no labelling
    log(rundir.finished_message(c.logdir, done, c.steps))
    return dict(step=done, status="done", losses={}, eval={}, checkpoint=latest,
                finished_before=True, devices=None, label_area=None, kept=None)
  where = devices.announce(c.logdir, strategy, c.mixed_precision,
                           training.use_jit(c.jit, strategy, c.upsample), log=log)
  labels = label(inputs, log)
  ema = f", its moving average (decay {c.ema_decay:g}) delivered" if c.ema_decay else ""
  log(f"student: UNet {c.image_size} px, width {c.width}, {c.upsample}{ema}; teacher's mean mask "
      f"area {labels.masks.mean() / 255.0:.3f}; {c.steps} steps of {c.batch_size}"
      f"{f'; scoring {labels.scored} masked crops' if labels.scored else ''} -> {c.logdir}, {where}")
  distiller = distill_lib.Distiller(c, inputs.teacher, strategy)
  result = distill_lib.train(distiller, labels.train_images, labels.train_masks, inputs.pool,
                             c.logdir, steps=c.steps, eval_data=labels.eval_data,
                             log_every=c.log_every, save_every=c.save_every,
                             eval_every=c.eval_every, max_to_keep=c.max_to_keep,
                             progress=c.progress)
  return dict(result, finished_before=False, devices=where,
              label_area=float(labels.masks.mean() / 255.0), kept=len(labels.train_images))


def summary(result):
  """The end of the entry point's last line: the last scores on the masked crops, if any."""
  scores = result["eval"]
  return (f"; fg IoU {scores['fg_iou']:.3f}, mIoU {scores['miou']:.3f} on {scores['images']} "
          "masked crops" if scores else "")
