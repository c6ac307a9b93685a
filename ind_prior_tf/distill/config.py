"""The config of data distillation (experiments/distill.py): `DistillConfig`, its presets and its
checks. TensorFlow-free, so that the entry point reports a bad flag or a missing file before the
seconds-long TensorFlow import.

Every check raises FlagError whose message names the flag (`--label_keep=1.5: must be in (0, 1]`), so
that `cli.run` reports it as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import os
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.knobs import knob
from ind_prior_tf.runtime.rundir import check_writable_dir

LR_DECAYS = ("constant", "cosine")

# Named presets: run length, batch and the student's optimiser; the student's architecture defaults to
# the teacher's whatever the preset. Explicit flags override them (cli.resolve).
PRESETS = {
    # A GPU run; the paper gives neither batch size nor steps for the student. Its optimiser is the
    # paper's for every network (Adam, beta1 0.5, beta2 0.999); its rate, 4e-4, is the generators'
    # (inferred: the paper prints rates only for discriminators and generators).
    "paper": dict(batch_size=16, steps=20000, log_every=100, save_every=2000, eval_every=1000,
                  lr=4e-4, beta1=0.5),
    # A 2-core CPU: a 64 px quarter-width student does ~8 steps/s at batch 32, so ~10 minutes.
    "cpu": dict(batch_size=32, steps=4000, log_every=50, save_every=500, eval_every=250),
    # Seconds: smoke runs and tests.
    "tiny": dict(batch_size=8, steps=50, log_every=10, save_every=25, eval_every=25),
}
PRESET_FIELDS = ("batch_size", "steps", "log_every", "save_every", "eval_every", "lr", "beta1")


@dataclasses.dataclass
class DistillConfig:
  """The student, its training (what distill.model.Distiller reads) and the run around it (what
  distill.run.distill reads). A field made with `knob` is experiments.distill's flag of that name,
  with this default and help; image_size, width, upsample and the run flags (--seed to --progress,
  cli.define_run_flags) are defined there."""
  # -- the student and its training -------------------------------------------------------------
  # None (the entry point's default) for image_size, width and upsample: the teacher's
  # (with_teacher); the defaults here serve a Distiller built without a teacher run.
  image_size: Optional[int] = 128  # the student's input size, a multiple of 64
  width: Optional[float] = 1.0     # the student's UNet width multiplier (Table 1 at 1.0)
  upsample: Optional[str] = "deconv"  # Table 1; "resize" removes checkerboard artifacts
  batch_size: int = knob(16, "Global batch size. The presets set it (the default preset, cpu: 32).")
  # Ours, not the paper's (docs/paper.md): the paper uses Adam(0.5, 0.999), 4e-4 for generators; the
  # `paper` preset restores it. The student's loss is supervised and stationary (its labels do not
  # move, unlike a GAN's), hence plain Adam's beta1 and a larger step here.
  lr: float = knob(1e-3,
      "Adam learning rate of the student (ours; preset paper: 4e-4, the paper's rate for "
      "generators: it prints none for the student).")
  beta1: float = knob(0.9, "Adam beta1 (ours; the paper, preset paper: 0.5).")
  beta2: float = 0.999
  # "cosine": the learning rate falls from lr to 0 over `steps` along a half cosine, so that the last
  # checkpoint is not wherever the last noisy steps left it.
  lr_decay: str = knob("constant",
      "cosine: the learning rate falls to 0 over --steps (a half cosine).", LR_DECAYS)
  # Not in the paper: > 0 also keeps an exponential moving average of the student's weights, with this
  # decay per step, and delivers it (saved as `unet`). A constant-rate student's masks swing from one
  # evaluation to the next; the average of its recent weights does not depend on where the last steps
  # left them. 0: the student as trained.
  ema_decay: float = knob(0.0,
      "> 0: the student saved (as `unet`) and scored is an exponential moving average of the "
      "trained one with this decay per step (not in the paper).")
  steps: int = knob(20000,
      "Total training steps (a resumed run continues up to it). The presets set it (the default "
      "preset, cpu: 4000).")
  flip: bool = knob(True, "Horizontal flips of composites and labels.")
  # None: soft labels, the teacher's prediction as the paper says. A value t in (0, 1): carve and label
  # with the teacher's mask thresholded at t instead.
  label_threshold: Optional[float] = knob(None,
      "Carve and label with the teacher's mask thresholded at this value instead of its soft "
      "prediction (the paper's choice, the default).")
  # Not in the paper: the fraction of samples fed as the real image itself (the background left in
  # place) with the teacher's mask as label; 0 is the paper's all-composite recipe.
  real_fraction: float = knob(0.0,
      "Not in the paper: fraction of samples fed as the real image (background left in place) "
      "instead of a composite; 0 is the paper's recipe.")
  # Not in the paper: on those real samples, pixels within this many pixels of the label's edge do
  # not count in the loss. A teacher's (or GrabCut's) errors on a real crop lie mostly along the edge,
  # where a student would copy them; composites, whose labels are exact, teach the edge. 0: all count.
  real_ignore_band: int = knob(0,
      "Not in the paper: on the real samples (--real_fraction), pixels within this many pixels of "
      "the label's edge are left out of the loss; 0: all count.")
  # Not in the paper: the fraction of samples whose image is recoloured (desaturated by a factor
  # U(0, 1), then a gamma log-uniform in [1/4, 2]) before it is carved and pasted. A GAN teacher learns
  # the colours most of its category has (brown horses) and its masks fail on the rest (grey and white
  # horses: docs/results.md); recoloured composites show the student those shapes in other colours.
  recolor: float = knob(0.0,
      "Not in the paper: fraction of samples whose image is desaturated and given a random gamma "
      "before it is carved and pasted, so the student sees the category's shapes in colours the "
      "teacher rarely saw; 0 is the paper's recipe.")
  # Not in the paper: the fraction of images the student learns from, those whose teacher masks are
  # the most consistent under a horizontal flip (distill_lib.flip_consistency); 1 keeps all, the
  # paper's recipe. The images the teacher gets wrong are mostly those whose masks change under a
  # flip.
  label_keep: float = knob(1.0,
      "Not in the paper: the fraction of images the student learns from, those whose teacher "
      "masks agree best with the teacher's masks of the mirrored images; 1 keeps all (the paper's "
      "recipe). Scores still cover every masked crop.")
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0
  # -- the run: its inputs, its directory and its cadence ------------------------------------------
  teacher: Optional[str] = knob(None, "Run directory of the teacher segmenter (flags.json + ckpt/).")
  teacher_checkpoint: Optional[str] = knob(None,
      "A checkpoint prefix of the teacher run (default: its latest), e.g. the one "
      "experiments.consistency --all_checkpoints picks.")
  prepared: Optional[str] = knob(None, "Prepared set directory (meta.json + TFRecord shards).")
  split: str = knob("all",
      "Images of the prepared set to distill on; the method needs no masks, so 'all'.", choices.SPLITS)
  backgrounds: Optional[str] = knob(None, "Background patch pool (.npz from data_prep.backgrounds).")
  logdir: Optional[str] = knob(None, "Run directory of the student (checkpoints, TensorBoard, flags).")
  # Not in the paper: > 0 refines each teacher label by this many GrabCut iterations on the raw image
  # (ind_prior_tf/postprocess/grabcut.py) from raw_root (default: the one the prepared set's meta.json
  # records).
  grabcut_iters: int = knob(0,
      "Not in the paper: > 0 refines every teacher label with this many iterations of OpenCV's "
      "GrabCut on the raw image around its box, seeded by the label "
      "(ind_prior_tf/postprocess/grabcut.py); needs the raw images (--raw_root) and OpenCV. 0: "
      "the teacher's labels as they are, the paper's recipe.")
  raw_root: Optional[str] = knob(None,
      "The raw set the prepared one was made from (CUB or CelebA layout), for --grabcut_iters; "
      "default: the directory its meta.json records.")
  # Not in the paper: each label is the mean of the teacher's masks of the image and of its mirror.
  flip_average_labels: bool = knob(False,
      "Not in the paper: each teacher label is the mean of the teacher's masks of the image and "
      "of its mirror image (before GrabCut, with --grabcut_iters); off: the paper's recipe.")
  preset: str = "cpu"
  log_every: int = 50
  save_every: int = 1000
  eval_every: int = knob(250,
      "Steps between scores on the masked crops (if the set has masks) and image grids "
      "(TensorBoard and samples/); 0: never.")
  eval_count: int = knob(256, "Masked crops scored every --eval_every steps.")
  max_to_keep: int = 3
  strategy: str = "default"
  deterministic: bool = False
  overwrite: bool = False
  progress: bool = True

  def validate(self):
    """The values alone (no file is read); FlagError naming the first bad flag."""
    for name in ("teacher", "prepared", "backgrounds", "logdir"):
      if not getattr(self, name):
        raise FlagError(f"--{name}: required")
    self.validate_training()
    _one_of("split", self.split, choices.SPLITS)
    _one_of("strategy", self.strategy, choices.STRATEGIES)
    if self.eval_every < 0:
      raise FlagError(f"--eval_every={self.eval_every}: must be >= 0")
    for name in ("log_every", "save_every", "eval_count", "max_to_keep"):
      value = getattr(self, name)
      if value < 1:
        raise FlagError(f"--{name}={value}: must be >= 1")
    if self.grabcut_iters < 0:
      raise FlagError(f"--grabcut_iters={self.grabcut_iters}: must be >= 0")
    return self

  def validate_training(self):
    """The student's and its training's values (what the Distiller needs); None for image_size, width
    or upsample passes (the teacher's, filled in by with_teacher)."""
    if self.image_size is not None and (self.image_size < 64 or self.image_size % 64):
      raise FlagError(f"--image_size={self.image_size}: the UNet needs a positive multiple of 64")
    if self.width is not None and not self.width > 0:
      raise FlagError(f"--width={self.width}: must be > 0")
    if self.upsample is not None and self.upsample not in choices.UPSAMPLES:
      raise FlagError(f"--upsample={self.upsample!r}: expected 'deconv' or 'resize'")
    for name in ("steps", "batch_size"):
      value = getattr(self, name)
      if value < 1:
        raise FlagError(f"--{name}={value}: must be >= 1")
    if not self.lr > 0:
      raise FlagError(f"--lr={self.lr}: must be > 0")
    if self.lr_decay not in LR_DECAYS:
      raise FlagError(f"--lr_decay={self.lr_decay!r}: expected 'constant' or 'cosine'")
    if not 0 <= self.ema_decay < 1:
      raise FlagError(f"--ema_decay={self.ema_decay}: must be in [0, 1)")
    if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
      raise FlagError(f"--beta1={self.beta1}, beta2={self.beta2}: must be in [0, 1)")
    if self.label_threshold is not None and not 0 < self.label_threshold < 1:
      raise FlagError(f"--label_threshold={self.label_threshold}: must be in (0, 1) or None")
    for name in ("real_fraction", "recolor"):
      value = getattr(self, name)
      if not 0 <= value <= 1:
        raise FlagError(f"--{name}={value}: must be in [0, 1]")
    if self.real_ignore_band < 0:
      raise FlagError(f"--real_ignore_band={self.real_ignore_band}: must be >= 0")
    if not 0 < self.label_keep <= 1:
      raise FlagError(f"--label_keep={self.label_keep}: must be in (0, 1]")
    _one_of("mixed_precision", self.mixed_precision, choices.POLICIES)
    return self

  def check_files(self):
    """The paths: the inputs exist, and --logdir is none of the runs the command reads (else
    --overwrite would delete a teacher's checkpoints, and a resume would mix two runs)."""
    if not os.path.isdir(self.teacher):
      raise FlagError(f"--teacher={self.teacher}: no such run directory")
    if self.teacher_checkpoint and not os.path.isfile(self.teacher_checkpoint + ".index"):
      raise FlagError(f"--teacher_checkpoint={self.teacher_checkpoint}: no such checkpoint "
                      f"(no {self.teacher_checkpoint}.index)")
    if not os.path.isdir(self.prepared):
      raise FlagError(f"--prepared={self.prepared}: no such directory; run the *-prep target first")
    if not os.path.isfile(self.backgrounds):
      raise FlagError(f"--backgrounds={self.backgrounds}: no such file; run the *-prep target first")
    if self.raw_root and not os.path.isdir(self.raw_root):
      raise FlagError(f"--raw_root={self.raw_root}: no such directory")
    read = [("--teacher", self.teacher)]
    if self.teacher_checkpoint:
      read.append(("--teacher_checkpoint", _run_of_checkpoint(self.teacher_checkpoint)))
    for flag, run in read:
      if overlaps(self.logdir, run):
        raise FlagError(f"--logdir={self.logdir}: is, holds or lies inside {run}, the run "
                        f"{flag} reads; give the student a directory of its own")
    check_writable_dir(self.logdir, "--logdir")
    return self

  def with_teacher(self, image_size, width, upsample):
    """This config with the teacher's architecture wherever the student's is None, validated."""
    return dataclasses.replace(self, image_size=self.image_size or image_size,
                               width=self.width or width,
                               upsample=self.upsample or upsample).validate_training()

  def flags_json(self, teacher_checkpoint):
    """What <logdir>/flags.json records: the resolved student and training, the inputs (absolute) and
    the run's cadence. teacher_checkpoint: the checkpoint the teacher was loaded from."""
    a = os.path.abspath
    return dict(training_dict(self), teacher=a(self.teacher), teacher_checkpoint=a(teacher_checkpoint),
                prepared=a(self.prepared), split=self.split, backgrounds=a(self.backgrounds),
                logdir=self.logdir, strategy=self.strategy, deterministic=self.deterministic,
                preset=self.preset, log_every=self.log_every, save_every=self.save_every,
                eval_every=self.eval_every, eval_count=self.eval_count,
                max_to_keep=self.max_to_keep, grabcut_iters=self.grabcut_iters,
                flip_average_labels=self.flip_average_labels,
                raw_root=self.raw_root and a(self.raw_root), application="distill")


_NAMES = [f.name for f in dataclasses.fields(DistillConfig)]
TRAINING_FIELDS = tuple(_NAMES[:_NAMES.index("teacher")])  # the fields before the run's


def training_dict(config):
  """The student's and its training's fields, {name: value}."""
  return {name: getattr(config, name) for name in TRAINING_FIELDS}


# A key missing from an old run's flags.json counts as this value (rundir.prepare_logdir), so that runs
# begun before a flag existed still resume.
RESUME_DEFAULTS = dict(training_dict(DistillConfig()), grabcut_iters=0, flip_average_labels=False,
                       raw_root=None)


def _one_of(name, value, allowed):
  if value not in allowed:
    raise FlagError(f"--{name}={value}: expected one of {', '.join(allowed)}")


def _run_of_checkpoint(prefix):
  """The run directory of a checkpoint prefix <run>/ckpt/ckpt-N (its folder when not in a ckpt/)."""
  folder = os.path.dirname(os.path.abspath(prefix))
  return os.path.dirname(folder) if os.path.basename(folder) == "ckpt" else folder


def overlaps(a, b):
  """True when directory a is b, holds b or lies inside b (symbolic links resolved)."""
  a, b = os.path.realpath(a), os.path.realpath(b)
  return os.path.commonpath([a, b]) in (a, b)
