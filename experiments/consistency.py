"""A mask-free check of a segmenter: do its masks agree with its masks of the mirrored images?

  python -m experiments.consistency --run_dir=runs/horse-refine/refine1-gan --prepared=prepared/horse \
      --baseline=runs/horse-refine/student1 --max_drop=0.13

Prints the mean flip consistency (distill_lib.flip_consistency: per image, the IoU at 0.5 of the mask
with the mask of the mirrored image, mirrored back) over the prepared set's images; it needs no ground
truth. A segmenter that has lost the object draws masks that change with a flip: on the horses, a
short GAN run that fell from 0.677 to 0.428 fg IoU fell from 0.844 to 0.608 in flip consistency, while
the other refinement runs we measured fell by at most 0.105 (docs/fgseg.md). With --baseline (the
run it started from) and --max_drop, exits with status 3 when the run's mean is below the baseline's
by more than max_drop, so that scripts can retry or drop such a run.

With --all_checkpoints every checkpoint the run kept is scored and the most consistent one is the
run's: consistency.json names it under "checkpoint" (for distill --teacher_checkpoint) and lists all
scores under "checkpoints"; the --max_drop check applies to it. A short refinement GAN run swings from
step to step; on the horses the pick avoided collapsed checkpoints and landed near the best by fg
IoU, though not always on it, and its students were no better on average than the last
checkpoint's (docs/fgseg.md).
"""
import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("run_dir", None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
flags.DEFINE_string("prepared", None, "Prepared set (meta.json + TFRecord shards); masks not needed.")
flags.DEFINE_enum("split", "all", ["all", "train", "test"], "Images to use.")
flags.DEFINE_string("baseline", None, "Another run to compare with (e.g. the one --run_dir started "
                    "from).")
flags.DEFINE_float("max_drop", None, "With --baseline: exit with status 3 when the run's mean flip "
                   "consistency is below the baseline's by more than this.")
flags.DEFINE_boolean("all_checkpoints", False, "Score every checkpoint kept in <run_dir>/ckpt and "
                     "pick the most consistent (default: the latest only).")

FLAGS = flags.FLAGS
DROPPED = 3  # exit status: below the baseline by more than --max_drop


def mean_flip_consistency(run_dir, images, checkpoint=None):
  from ind_prior_tf import distill_lib, segmenter  # pylint: disable=g-import-not-at-top
  unet, _, ckpt = segmenter.load_run_segmenter(run_dir, checkpoint)
  masks = distill_lib.teacher_labels(unet, images)
  return float(distill_lib.flip_consistency(unet, images, masks).mean()), ckpt


def kept_checkpoints(run_dir):
  """The checkpoint prefixes a run's CheckpointManager kept, oldest first."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from ind_prior_tf import segmenter  # pylint: disable=g-import-not-at-top
  segmenter.latest_checkpoint(run_dir)  # RunError naming the folder when there is none
  state = tf.train.get_checkpoint_state(os.path.join(run_dir, segmenter.CKPT_SUBDIR))
  return list(state.all_model_checkpoint_paths)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf import rundir  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  try:
    for name in ("run_dir", "prepared"):
      if not FLAGS[name].value:
        raise ValueError(f"--{name}: required")
    if FLAGS.max_drop is not None and not FLAGS.baseline:
      raise ValueError("--max_drop: needs --baseline")
    for name in ("run_dir", "baseline"):
      run = FLAGS[name].value
      if run and not os.path.isfile(os.path.join(run, "flags.json")):
        raise ValueError(f"--{name}={run}: no flags.json; is it a training run directory?")
    data = prepared.load_prepared_arrays(FLAGS.prepared, split=FLAGS.split)
    if not len(data["images"]):
      raise ValueError(f"--prepared={FLAGS.prepared}: no images in split {FLAGS.split!r}")
    report = dict(run_dir=os.path.abspath(FLAGS.run_dir), prepared=os.path.abspath(FLAGS.prepared),
                  split=FLAGS.split, images=len(data["images"]))
    if FLAGS.all_checkpoints:
      scored = []
      for path in kept_checkpoints(FLAGS.run_dir):
        scored.append(mean_flip_consistency(FLAGS.run_dir, data["images"], path))
        print(f"{os.path.basename(path)}: mean flip consistency {scored[-1][0]:.3f}", flush=True)
      # The latest of equally consistent checkpoints: it has trained longest.
      score, ckpt = max(reversed(scored), key=lambda sc: sc[0])
      report["checkpoints"] = [dict(checkpoint=os.path.abspath(c), flip_consistency=v)
                               for v, c in scored]
    else:
      score, ckpt = mean_flip_consistency(FLAGS.run_dir, data["images"])
    report.update(checkpoint=os.path.abspath(ckpt), flip_consistency=score)
    line = (f"{FLAGS.run_dir} ({os.path.basename(ckpt)}): mean flip consistency {score:.3f} on "
            f"{len(data['images'])} images")
    if FLAGS.baseline:
      base, _ = mean_flip_consistency(FLAGS.baseline, data["images"])
      report.update(baseline=os.path.abspath(FLAGS.baseline), baseline_flip_consistency=base)
      line += f" ({FLAGS.baseline}: {base:.3f}, change {score - base:+.3f})"
  except ValueError as e:  # DataError and RunError are ValueErrors
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  rundir.atomic_write_text(os.path.join(FLAGS.run_dir, "consistency.json"),
                             json.dumps(report, indent=2) + "\n")
  print(line, flush=True)
  if FLAGS.max_drop is not None and score < report["baseline_flip_consistency"] - FLAGS.max_drop:
    print(f"below the baseline by more than --max_drop={FLAGS.max_drop}", flush=True)
    sys.exit(DROPPED)


if __name__ == "__main__":
  app.run(main)
