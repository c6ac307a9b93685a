"""A mask-free check of a segmenter run (experiments/consistency.py): do its masks agree with its
masks of the mirrored images?

A run's score is the mean flip consistency (distill_lib.flip_consistency: per image, the IoU at 0.5 of
the mask with the mask of the mirrored image, mirrored back) over a prepared set's images; it needs no
ground truth. A segmenter that has lost the object draws masks that change with a flip (docs/use.md),
so a refinement chain drops a GAN run whose score falls below its start's by more than `max_drop`.
With `all_checkpoints` every checkpoint the run kept is scored and the most consistent is the run's:
the pick guards against a collapsed checkpoint; it does not rank good ones finely (docs/results.md).

`check(config)` writes <run_dir>/consistency.json (read by the refinement chain, ind_prior_tf/refine/plan.py)
and returns it. The config is TensorFlow-free; TensorFlow is imported when a run is scored.
"""
import dataclasses
import json
import os
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.knobs import knob
from ind_prior_tf.runtime import runinfo

REPORT = "consistency.json"


@dataclasses.dataclass
class ConsistencyConfig:
  """What experiments.consistency checks; each field made with `knob` is its flag."""
  run_dir: Optional[str] = knob(None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
  prepared: Optional[str] = knob(None, "Prepared set (meta.json + TFRecord shards); masks not needed.")
  split: str = knob("all", "Images to use.", choices.SPLITS)
  baseline: Optional[str] = knob(None,
      "Another run to compare with (e.g. the one --run_dir started from).")
  max_drop: Optional[float] = knob(None,
      "With --baseline: exit with status 3 when the run's mean flip consistency is below the "
      "baseline's by more than this.")
  all_checkpoints: bool = knob(False,
      "Score every checkpoint kept in <run_dir>/ckpt and pick the most consistent (default: the "
      "latest only).")

  def validate(self):
    """The values alone (no file is read); FlagError naming the flag."""
    for name in ("run_dir", "prepared"):
      if not getattr(self, name):
        raise FlagError(f"--{name}: required")
    if self.split not in choices.SPLITS:
      raise FlagError(f"--split={self.split}: expected one of {', '.join(choices.SPLITS)}")
    if self.max_drop is not None and not self.baseline:
      raise FlagError("--max_drop: needs --baseline")
    return self

  def check_files(self):
    for name in ("run_dir", "baseline"):
      run = getattr(self, name)
      if run and not runinfo.has_flags(run):
        raise FlagError(f"--{name}={run}: no flags.json; is it a training run directory?")
    return self


@dataclasses.dataclass
class Consistency:
  """What check found: the report it wrote, the line that sums it up, and whether the run fell below
  the baseline by more than max_drop."""
  report: dict
  line: str
  dropped: bool


def mean_flip_consistency(run_dir, images, checkpoint=None):
  """(mean flip consistency of the run's masks of `images`, the checkpoint scored: `checkpoint` or the
  run's latest)."""
  from ind_prior_tf.apply import load as segmenter
  from ind_prior_tf.distill import model as distill_lib  # pylint: disable=g-import-not-at-top
  unet, _, ckpt = segmenter.load_run_segmenter(run_dir, checkpoint)
  masks = distill_lib.teacher_labels(unet, images)
  return float(distill_lib.flip_consistency(unet, images, masks).mean()), ckpt


def kept_checkpoints(run_dir):
  """The checkpoint prefixes a run's CheckpointManager kept, oldest first."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from ind_prior_tf.apply import load as segmenter  # pylint: disable=g-import-not-at-top
  segmenter.latest_checkpoint(run_dir)  # RunError naming the folder when there is none
  state = tf.train.get_checkpoint_state(os.path.join(run_dir, segmenter.CKPT_SUBDIR))
  return list(state.all_model_checkpoint_paths)


def pick(scored):
  """The (score, checkpoint) of the most consistent of `scored` (oldest first): the latest of equally
  consistent ones, as it has trained longest."""
  return max(reversed(scored), key=lambda sc: sc[0])


def check(config, log=print):
  """Scores config.run_dir (each kept checkpoint with all_checkpoints, then the pick; else its latest)
  and the baseline's latest on the prepared images, writes <run_dir>/consistency.json and returns a
  Consistency. log(line) reports each checkpoint's score as it comes."""
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.runtime import rundir  # pylint: disable=g-import-not-at-top
  config.validate().check_files()
  data = prepared.load_prepared_arrays(config.prepared, split=config.split)
  images = data["images"]
  if not len(images):
    raise FlagError(f"--prepared={config.prepared}: no images in split {config.split!r}")
  report = dict(run_dir=os.path.abspath(config.run_dir), prepared=os.path.abspath(config.prepared),
                split=config.split, images=len(images))
  if config.all_checkpoints:
    scored = []
    for path in kept_checkpoints(config.run_dir):
      scored.append(mean_flip_consistency(config.run_dir, images, path))
      log(f"{os.path.basename(path)}: mean flip consistency {scored[-1][0]:.3f}")
    score, ckpt = pick(scored)
    report["checkpoints"] = [dict(checkpoint=os.path.abspath(c), flip_consistency=v)
                             for v, c in scored]
  else:
    score, ckpt = mean_flip_consistency(config.run_dir, images)
  report.update(checkpoint=os.path.abspath(ckpt), flip_consistency=score)
  line = (f"{config.run_dir} ({os.path.basename(ckpt)}): mean flip consistency {score:.3f} on "
          f"{len(images)} images")
  if config.baseline:
    base, _ = mean_flip_consistency(config.baseline, images)
    report.update(baseline=os.path.abspath(config.baseline), baseline_flip_consistency=base)
    line += f" ({config.baseline}: {base:.3f}, change {score - base:+.3f})"
  rundir.atomic_write_text(os.path.join(config.run_dir, REPORT), json.dumps(report, indent=2) + "\n")
  dropped = (config.max_drop is not None
             and score < report["baseline_flip_consistency"] - config.max_drop)
  return Consistency(report, line, dropped)
