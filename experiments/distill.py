"""Data distillation (appendix, eq. 8): train a student segmenter on a teacher's masks.

  python -m experiments.distill --teacher=runs/horse --prepared=prepared/horse \
      --backgrounds=prepared/horse_bg.npz --logdir=runs/horse-distill

The student's run directory follows the segmenter contract (flags.json with image_size / width /
upsample, the student saved as `unet` under <logdir>/ckpt), so experiments/evaluate.py, segment.py and
export.py take it exactly like a teacher's. Rerunning the same command resumes.
"""
import dataclasses
import os
import sys
import time

from absl import app, flags

from experiments import run_flags

flags.DEFINE_string("teacher", None, "Run directory of the teacher segmenter (flags.json + ckpt/).")
flags.DEFINE_string("teacher_checkpoint", None,
                    "A checkpoint prefix of the teacher run (default: its latest), e.g. the one "
                    "experiments.consistency --all_checkpoints picks.")
flags.DEFINE_string("prepared", None, "Prepared set directory (meta.json + TFRecord shards).")
flags.DEFINE_enum("split", "all", ["all", "train", "test"],
                  "Images of the prepared set to distill on; the method needs no masks, so 'all'.")
flags.DEFINE_string("backgrounds", None, "Background patch pool (.npz from data_prep.backgrounds).")
flags.DEFINE_string("logdir", None, "Run directory of the student (checkpoints, TensorBoard, flags).")
flags.DEFINE_integer("image_size", None, "Student input size, a multiple of 64 (default: teacher's).")
flags.DEFINE_float("width", None, "Student UNet width multiplier (default: the teacher's).")
flags.DEFINE_enum("upsample", None, ["deconv", "resize"], "Student decoder (default: teacher's).")
flags.DEFINE_string("preset", "cpu", "Named run length and batch (paper, cpu, tiny: see "
                    "distill_lib.PRESETS); explicit flags override it.")
flags.DEFINE_integer("steps", 4000, "Total training steps (a resumed run continues up to it).")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_float("lr", 1e-3, "Adam learning rate of the student.")
flags.DEFINE_enum("lr_decay", "constant", ["constant", "cosine"],
                  "cosine: the learning rate falls to 0 over --steps (a half cosine).")
flags.DEFINE_float("beta1", 0.9, "Adam beta1 (0.5 is the GAN setting; plain Adam converges faster).")
flags.DEFINE_float("label_threshold", None,
                   "Carve and label with the teacher's mask thresholded at this value instead of "
                   "its soft prediction (the paper's choice, the default).")
flags.DEFINE_float("real_fraction", 0.0,
                   "Not in the paper: fraction of samples fed as the real image (background left "
                   "in place) instead of a composite; 0 is the paper's recipe.")
flags.DEFINE_float("recolor", 0.0,
                   "Not in the paper: fraction of samples whose image is desaturated and given a "
                   "random gamma before it is carved and pasted, so the student sees the category's "
                   "shapes in colours the teacher rarely saw; 0 is the paper's recipe.")
flags.DEFINE_float("label_keep", 1.0,
                   "Not in the paper: the fraction of images the student learns from, those whose "
                   "teacher masks agree best with the teacher's masks of the mirrored images; 1 "
                   "keeps all (the paper's recipe). Scores still cover every masked crop.")
flags.DEFINE_integer("grabcut_iters", 0,
                     "Not in the paper: > 0 refines every teacher label with this many iterations of "
                     "OpenCV's GrabCut on the raw image around its box, seeded by the label "
                     "(ind_prior_tf/grabcut.py); needs the raw images (--raw_root) and OpenCV. 0: the "
                     "teacher's labels as they are, the paper's recipe.")
flags.DEFINE_boolean("flip_average_labels", False,
                     "Not in the paper: each teacher label is the mean of the teacher's masks of the "
                     "image and of its mirror image (before GrabCut, with --grabcut_iters); off: "
                     "the paper's recipe.")
flags.DEFINE_string("raw_root", None,
                    "The raw set the prepared one was made from (CUB or CelebA layout), for "
                    "--grabcut_iters; default: the directory its meta.json records.")
flags.DEFINE_boolean("flip", True, "Horizontal flips of composites and labels.")
flags.DEFINE_integer("eval_every", 250, "Steps between scores on the masked crops (if the set has "
                     "masks) and image grids (TensorBoard and samples/); 0: never.")
flags.DEFINE_integer("eval_count", 256, "Masked crops scored every --eval_every steps.")

run_flags.define(save_every=1000, overwrite_removes="checkpoints, samples, events and metrics",
                 networks="student")

FLAGS = flags.FLAGS

PRESET_FLAGS = ("batch_size", "steps", "log_every", "save_every", "eval_every")


def resolved():
  """The preset's values, overridden by explicitly given flags: {name: value}."""
  from ind_prior_tf import distill_lib  # pylint: disable=g-import-not-at-top
  if FLAGS.preset not in distill_lib.PRESETS:
    raise ValueError(f"--preset={FLAGS.preset}: expected one of {', '.join(distill_lib.PRESETS)}")
  preset = distill_lib.PRESETS[FLAGS.preset]
  return {name: FLAGS[name].value if FLAGS[name].present or name not in preset else preset[name]
          for name in PRESET_FLAGS}


def check_flags(v):
  for name in ("teacher", "prepared", "backgrounds", "logdir"):
    if not FLAGS[name].value:
      raise ValueError(f"--{name}: required")
  if not os.path.isdir(FLAGS.teacher):
    raise ValueError(f"--teacher={FLAGS.teacher}: no such run directory")
  if FLAGS.teacher_checkpoint and not os.path.isfile(FLAGS.teacher_checkpoint + ".index"):
    raise ValueError(f"--teacher_checkpoint={FLAGS.teacher_checkpoint}: no such checkpoint "
                     f"(no {FLAGS.teacher_checkpoint}.index)")
  if not os.path.isdir(FLAGS.prepared):
    raise ValueError(f"--prepared={FLAGS.prepared}: no such directory; run the *-prep target first")
  if not os.path.isfile(FLAGS.backgrounds):
    raise ValueError(f"--backgrounds={FLAGS.backgrounds}: no such file; run the *-prep target first")
  if v["eval_every"] < 0:
    raise ValueError(f"--eval_every={v['eval_every']}: must be >= 0")
  for name in ("steps", "batch_size", "log_every", "save_every", "eval_count", "max_to_keep"):
    value = v.get(name, FLAGS[name].value)
    if value < 1:
      raise ValueError(f"--{name}={value}: must be >= 1")
  if FLAGS.image_size is not None and (FLAGS.image_size < 64 or FLAGS.image_size % 64):
    raise ValueError(f"--image_size={FLAGS.image_size}: the UNet needs a positive multiple of 64")
  if FLAGS.width is not None and not FLAGS.width > 0:
    raise ValueError(f"--width={FLAGS.width}: must be > 0")
  if FLAGS.grabcut_iters < 0:
    raise ValueError(f"--grabcut_iters={FLAGS.grabcut_iters}: must be >= 0")
  if FLAGS.raw_root and not os.path.isdir(FLAGS.raw_root):
    raise ValueError(f"--raw_root={FLAGS.raw_root}: no such directory")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Imported here so that --help and flag errors come back at once.
  import numpy as np

  from ind_prior_tf import distill_lib, progress, rundir, segmenter, training
  from ind_prior_tf.data import pools, prepared
  try:
    v = resolved()
    check_flags(v)
    teacher, teacher_flags, teacher_ckpt = segmenter.load_run_segmenter(FLAGS.teacher,
                                                                             FLAGS.teacher_checkpoint)
    t_size, t_width, t_upsample = segmenter.unet_spec(teacher_flags)
    config = distill_lib.DistillConfig(
        image_size=FLAGS.image_size or t_size, width=FLAGS.width or t_width,
        upsample=FLAGS.upsample or t_upsample,
        batch_size=v["batch_size"], lr=FLAGS.lr, lr_decay=FLAGS.lr_decay, beta1=FLAGS.beta1,
        steps=v["steps"], flip=FLAGS.flip, label_threshold=FLAGS.label_threshold,
        real_fraction=FLAGS.real_fraction, recolor=FLAGS.recolor, label_keep=FLAGS.label_keep,
        jit=FLAGS.jit, mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed)
    try:
      distill_lib.validate_config(config)
    except ValueError as e:
      raise ValueError(f"--{e}") from None
    data = prepared.load_prepared_arrays(FLAGS.prepared, split=FLAGS.split)
    if len(data["images"]) < 1:
      raise ValueError(f"--prepared={FLAGS.prepared}: no images in split {FLAGS.split!r}")
    records = None
    if FLAGS.grabcut_iters:
      try:
        from ind_prior_tf import grabcut  # pylint: disable=g-import-not-at-top
        grabcut.require_opencv()
        records = prepared.raw_records(FLAGS.prepared, data["ids"], FLAGS.raw_root)
      except (ImportError, ValueError) as e:
        raise ValueError(f"--grabcut_iters: {e}") from None
    pool = pools.load_pool(FLAGS.backgrounds)
    if pool.shape[1] < config.image_size:
      raise ValueError(f"--backgrounds={FLAGS.backgrounds}: patches are {pool.shape[1]}x"
                       f"{pool.shape[2]}, smaller than the student's {config.image_size}; "
                       "make a pool of larger patches")
    flags_json = dict(dataclasses.asdict(config), teacher=os.path.abspath(FLAGS.teacher),
                      teacher_checkpoint=os.path.abspath(teacher_ckpt),
                      prepared=os.path.abspath(FLAGS.prepared), split=FLAGS.split,
                      backgrounds=os.path.abspath(FLAGS.backgrounds), logdir=FLAGS.logdir,
                      strategy=FLAGS.strategy, deterministic=FLAGS.deterministic,
                      preset=FLAGS.preset, log_every=v["log_every"], save_every=v["save_every"],
                      eval_every=v["eval_every"], eval_count=FLAGS.eval_count,
                      max_to_keep=FLAGS.max_to_keep, grabcut_iters=FLAGS.grabcut_iters,
                      flip_average_labels=FLAGS.flip_average_labels,
                      raw_root=FLAGS.raw_root and os.path.abspath(FLAGS.raw_root),
                      application="distill")
    training.set_determinism(FLAGS.seed, FLAGS.deterministic)
    strategy = training.make_strategy(FLAGS.strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
      raise ValueError(f"--batch_size={config.batch_size}: not divisible by the "
                       f"{strategy.num_replicas_in_sync} replicas")
    if FLAGS.overwrite:
      run_flags.fresh_start(FLAGS.logdir, ("ckpt", "tb", "samples"))
    rundir.prepare_logdir(FLAGS.logdir, flags_json, overwrite=FLAGS.overwrite,
                            defaults=dict(dataclasses.asdict(distill_lib.DistillConfig()),
                                          grabcut_iters=0, flip_average_labels=False,
                                          raw_root=None))
  except (ValueError, OSError) as e:  # RunError and DataError are ValueErrors
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)

  done, latest = rundir.saved_step(FLAGS.logdir)
  if done >= config.steps:  # a rerun of a finished stage (make horse-refine): no labelling
    print(rundir.finished_message(FLAGS.logdir, done, config.steps))
    print(f"step {done}: checkpoint {latest}", flush=True)
    return

  size = config.image_size
  images = data["images"]
  print(f"teacher {teacher_ckpt} ({teacher_flags.get('image_size')} px, width "
        f"{teacher_flags.get('width')}); labelling {len(images)} images ...", flush=True)
  masks = distill_lib.teacher_labels(teacher, images, out_size=size,
                                     flip_average=FLAGS.flip_average_labels)
  if records is not None:
    start, before = time.time(), masks.mean() / 255.0
    bar = progress.ProgressBar(len(masks), every=50, enabled=FLAGS.progress)
    try:
      masks = grabcut.refine_labels(records, masks, FLAGS.grabcut_iters,
                                    progress=lambda done, _: bar.update(done))
    except ValueError as e:  # an unreadable raw image: nothing written yet but flags.json
      print(f"error: --grabcut_iters: {e}", file=sys.stderr)
      sys.exit(2)
    bar.close()
    print(f"labels refined by GrabCut ({FLAGS.grabcut_iters} iterations) in "
          f"{time.time() - start:.0f} s; mean mask area {before:.3f} -> {masks.mean() / 255.0:.3f}",
          flush=True)
  if images.shape[1] != size:
    images = np.round(distill_lib.resize_images(images / 255.0, size).numpy() * 255.0)
    images = images.astype(np.uint8)
  eval_data = None
  scored = np.flatnonzero(data["has_mask"])[:FLAGS.eval_count]
  if len(scored):
    gt = distill_lib.resize_images(data["masks"][scored], size).numpy()
    eval_data = (images[scored], gt, masks[scored])
  train_images, train_masks = images, masks
  if config.label_keep < 1:
    consistency = distill_lib.flip_consistency(teacher, images, masks)
    kept = distill_lib.most_consistent(consistency, config.label_keep)
    train_images, train_masks = images[kept], masks[kept]
    print(f"keeping the labels of {len(kept)} of {len(images)} images (flip consistency >= "
          f"{consistency[kept].min():.3f}; median of all {np.median(consistency):.3f})", flush=True)
  print(f"student: UNet {size} px, width {config.width}, {config.upsample}; teacher's mean mask "
        f"area {masks.mean() / 255.0:.3f}; {config.steps} steps of {config.batch_size}"
        f"{f'; scoring {len(scored)} masked crops' if len(scored) else ''} -> {FLAGS.logdir}",
        flush=True)
  try:
    distiller = distill_lib.Distiller(config, teacher, strategy)
    result = distill_lib.train(distiller, train_images, train_masks, pool, FLAGS.logdir,
                               steps=config.steps, eval_data=eval_data, log_every=v["log_every"],
                               save_every=v["save_every"], eval_every=v["eval_every"],
                               max_to_keep=FLAGS.max_to_keep, progress=FLAGS.progress)
  except training.NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  if result["status"] == "interrupted":
    print(f"interrupted at step {result['step']}; checkpoint {result['checkpoint']}", flush=True)
    sys.exit(130)
  scores = result["eval"]
  summary = (f"; fg IoU {scores['fg_iou']:.3f}, mIoU {scores['miou']:.3f} on {scores['images']} "
             "masked crops" if scores else "")
  print(f"step {result['step']}: checkpoint {result['checkpoint']}{summary}", flush=True)


if __name__ == "__main__":
  app.run(main)
