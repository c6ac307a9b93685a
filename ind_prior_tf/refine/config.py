"""The refinement chain's config (make horse-refine, cub-refine, folder-refine): `RefineConfig` and its
checks, the datasets whose paths it defaults to (`for_dataset`) and any prepared set's
(`for_prepared`). TensorFlow-free; refine/plan.py makes the chain's stages from it.
"""
import dataclasses
import json
import math
import os
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.postprocess import floor


class ConfigError(FlagError):
  """A bad value in a RefineConfig; the message starts with the flag that sets it (a FlagError:
  cli.run reports it as one line, status 2)."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Where `make <name>-prep` puts a prepared set, relative to its folder, and how it is scored."""
  prepared: str
  backgrounds: str          # the teacher's and the GAN runs' pool
  student_backgrounds: str  # the students' pool
  teacher_preset: str
  score_split: str          # the crops the chain's result is scored on (those with masks)
  raw_root: Optional[str]   # the raw set, for GrabCut (None: the one the set's meta.json records)


DATASETS = {
    # The raw horses: where make horse-prep read them, as the prepared set's meta.json records (the
    # Makefile passes its HORSE_ROOT).
    "horse": Dataset("horse", "horse_bg.npz", "horse_bg_sharp.npz", "horse-cpu", "train", None),
    # No chain was tuned on the birds: the horses' recipe with the paper's CPU preset as teacher.
    "cub": Dataset("cub", "cub_bg.npz", "cub_bg.npz", "cpu", "all", "data/CUB_200_2011"),
}


@dataclasses.dataclass(frozen=True)
class RefineConfig:
  """One chain. The defaults are the best recipe measured on the horses (docs/results.md): a 64 px
  teacher of 6000 steps (the horse-cpu preset's colour and border priors), one round, three cycles
  of 125 then 25 GAN steps, hard labels from the start, students' labels refined by 3 GrabCut
  iterations, students that deliver a moving average of their weights (decay 0.99), flip-averaged
  labels, the result the mean of the three cycles' students, scored through flips and shifts, the
  colour CRF on the photo, a guided filter, GrabCut holding the sure pixels and the floor (GrabCut
  from the box alone unless the photo's colours back the mask)."""
  prepared: str = "prepared/horse"
  backgrounds: str = "prepared/horse_bg.npz"
  student_backgrounds: str = "prepared/horse_bg_sharp.npz"
  raw_root: Optional[str] = None            # None: the raw set the prepared set's meta.json names
  chain: str = "runs/horse-refine"          # every stage's run directory goes under it
  teacher_preset: str = "horse-cpu"
  student_preset: str = "cpu"
  score_split: str = "train"
  image_size: int = 128                     # the students' and the GAN runs' crops
  teacher_size: int = 64                    # the teacher's crops (0: image_size); its labels are
                                            # resized to the students'
  teacher_steps: int = 6000
  rounds: int = 1
  student_steps: int = 1000
  cycles: int = 3
  refine_steps: tuple = (125, 25)
  hard_from: int = 0
  hard_args: tuple = ("--label_threshold=0.5", "--recolor=0.5")
  grabcut: int = 3                          # GrabCut iterations on students' labels and the score
  # Ours: the score's segmenter is the mean of the last `ensemble` students (1: the last alone). Its
  # masks go through the colour CRF of weight crf_weight (0: none; with crf_context > 0 on the photo
  # around the box), are smoothed by a guided filter of radius guided_radius (0: none); GrabCut then
  # keeps the pixels where they are within grabcut_sure of 0 or 1 (0: it may move any). Earlier
  # recipes: docs/results.md.
  ensemble: int = 3
  crf_weight: float = 5.0
  crf_context: float = 0.5
  guided_radius: int = 4
  grabcut_sure: float = 0.05
  # Ours: the score's floor, GrabCut from the box alone unless the mask fits the colours better by
  # floor_margin and overlaps the cut by floor_agreement; on a set the network knows (floor_trust),
  # only where they disagree (postprocess.PostConfig, floor.py).
  grabcut_floor: bool = True
  floor_margin: float = floor.MARGIN
  floor_agreement: float = floor.AGREEMENT
  floor_trust: float = floor.TRUST
  # Ours: on a grey photo the network's mask (the colour steps and the floor have no colour to part).
  grey_network: bool = True
  pick_every: int = 0                       # 0: each student learns from its GAN run's last step
  max_drop: Optional[float] = 0.13          # None: no check
  retries: int = 0
  # The teacher's and the students' seed. The GAN runs' seeds are 1000 x seed + 1, + 2, ... (a retry
  # takes the next): seed 0's are 1, 2, ..., as in the chains recorded in docs/results.md, and
  # chains of other seeds do not share them.
  seed: int = 0
  flip_average_labels: bool = True
  flip_average_score: bool = True
  shift_average_score: int = 4              # ours: experiments.evaluate --shift_average
  # Ours: each student delivers a moving average of its weights with this decay (experiments.distill
  # --ema_decay; 0: its last weights, as the paper's student).
  student_ema_decay: float = 0.99
  # Extra flags: every fgseg run (the teacher and GAN runs), every student, the GAN runs, the score.
  fgseg_args: tuple = ()
  distill_args: tuple = ()
  gan_args: tuple = ()
  eval_args: tuple = ()
  # False: no score stage (a set without masks has nothing to score against); the result is the
  # last stage's run.
  score: bool = True

  def validate(self):
    """Raises ConfigError naming the first bad field as its flag; returns self."""
    for name in ("prepared", "backgrounds", "student_backgrounds", "chain", "teacher_preset",
                 "student_preset", "score_split"):
      if not getattr(self, name):
        raise ConfigError(f"--{name}: required")
    minimum = dict(image_size=1, teacher_size=0, teacher_steps=1, rounds=0, student_steps=1,
                   cycles=0, hard_from=0, grabcut=0, pick_every=0, retries=0, seed=0, ensemble=1,
                   guided_radius=0, shift_average_score=0)
    for name, low in minimum.items():
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"--{name}={value}: expected a whole number >= {low}")
    if self.retries >= 1000:  # another --seed's GAN runs start 1000 seeds on
      raise ConfigError(f"--retries={self.retries}: expected fewer than 1000")
    if not self.refine_steps or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in self.refine_steps):
      steps = ",".join(map(str, self.refine_steps))
      raise ConfigError(f"--refine_steps={steps}: expected GAN step counts > 0, one per cycle (the "
                        "last for the cycles after the list)")
    # name: (low, high, whether high itself is allowed); low is always allowed.
    ranges = dict(grabcut_sure=(0, 0.5, False),
                  student_ema_decay=(0, 1, False), crf_weight=(0, math.inf, False),
                  crf_context=(0, choices.MAX_CONTEXT, True),
                  shift_average_score=(0, choices.MAX_SHIFT, True),
                  floor_margin=(-1, 1, True), floor_agreement=(0, 1, True),
                  floor_trust=(-1, 1, True))
    for name, (low, high, closed) in ranges.items():
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and low <= value
              and (value <= high if closed else value < high)):
        raise ConfigError(f"--{name}={value}: expected a number in [{low:g}, {high:g}"
                          f"{']' if closed else ')'}")
    for name in ("grabcut_floor", "grey_network"):
      if not isinstance(getattr(self, name), bool):
        raise ConfigError(f"--{name}={getattr(self, name)}: expected true or false")
    if self.max_drop is not None and not math.isfinite(self.max_drop):
      raise ConfigError(f"--max_drop={self.max_drop}: expected a number, or none for no check")
    for name in ("hard_args", "fgseg_args", "distill_args", "gan_args", "eval_args"):
      if isinstance(getattr(self, name), str):
        raise ConfigError(f"--{name}: expected a sequence of arguments, not a string")
    return self


def prepared_meta(prepared):
  """The meta.json of the prepared set `prepared` (read here, without its reader's imports);
  ConfigError naming --prepared when there is none."""
  path = os.path.join(prepared, "meta.json")
  if not os.path.isfile(path):
    raise ConfigError(f"--prepared={prepared}: no prepared set there (no meta.json); make it first "
                      "(make folder-prep IMAGES=..., make horse-prep, make cub-prep)")
  try:
    with open(path) as f:
      meta = json.load(f)
    meta.get("has_masks")
  except (OSError, ValueError, AttributeError) as e:
    raise ConfigError(f"--prepared={prepared}: {path} is not a prepared set's meta.json "
                      f"({type(e).__name__})") from None
  return meta


def for_prepared(prepared, runs="runs", **overrides):
  """The default chain on any prepared set, every path derived from the set: its pool
  <prepared>_bg.npz (data_prep.folder and make *-prep write it beside the set), the students'
  <prepared>_bg_sharp.npz when there is one (else the same pool), the raw images where its
  meta.json records them, the chain <runs>/<set's name>-refine, the horse-cpu teacher (as make
  folder-train), every crop with a mask scored (none: no score stage); overrides set any field."""
  meta = prepared_meta(prepared)
  base = os.path.normpath(prepared)
  backgrounds = overrides.get("backgrounds") or base + "_bg.npz"
  if not overrides.get("backgrounds") and not os.path.isfile(backgrounds):
    raise ConfigError(f"--backgrounds: {backgrounds} is missing (data_prep.folder and make *-prep "
                      "write a set's pool beside it as <set>_bg.npz); pass "
                      "--backgrounds=<pool .npz>")
  sharp = base + "_bg_sharp.npz"
  values = dict(prepared=prepared, backgrounds=backgrounds,
                student_backgrounds=sharp if os.path.isfile(sharp) else backgrounds,
                raw_root=None,
                chain=os.path.join(runs, os.path.basename(os.path.abspath(base)) + "-refine"),
                teacher_preset="horse-cpu", score_split="all", score=bool(meta.get("has_masks")))
  values.update(overrides)
  return RefineConfig(**values)


def for_dataset(name, prep_dir="prepared", runs="runs", **overrides):
  """The default chain on the prepared set of make <name>-prep in prep_dir, in
  <runs>/<name>-refine; overrides set any RefineConfig field."""
  if name not in DATASETS:
    raise ConfigError(f"--dataset={name}: expected one of {', '.join(DATASETS)}")
  d = DATASETS[name]
  values = dict(prepared=os.path.join(prep_dir, d.prepared),
                backgrounds=os.path.join(prep_dir, d.backgrounds),
                student_backgrounds=os.path.join(prep_dir, d.student_backgrounds),
                raw_root=d.raw_root, chain=os.path.join(runs, f"{name}-refine"),
                teacher_preset=d.teacher_preset, score_split=d.score_split)
  values.update(overrides)
  return RefineConfig(**values)
