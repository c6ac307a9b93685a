"""The refinement chain (make horse-refine, cub-refine) as a plan of stages; refine_run runs it.

A chain improves a GAN teacher by distillation and short GAN runs (docs/fgseg.md):
  1. teacher: experiments.fgseg from scratch;
  2. `rounds` distillation rounds: student1 learns from the teacher, student2 from student1, ...;
  3. `cycles` refinement cycles: a short GAN run from the latest student (--init_from; cycle i runs
     refine_steps[i], the last count for the cycles after the list), checked without masks by
     experiments.consistency, then a new student distilled from it. From cycle `hard_from` on the
     students also get `hard_args` (0: the rounds' students too);
  4. with `ensemble` > 1, an ensemble of the last students (experiments.ensemble: the mean of their
     masks), the chain's result;
  5. the score of the result (experiments.evaluate; none for a set without masks) through the
     post-processing of `score_recipe` (ind_prior_tf/postprocess/stage.py): its masks averaged over flips
     and shifts (`shift_average_score`), a dense CRF over the colours (`crf_weight`), a guided filter
     (`guided_radius`), GrabCut holding their sure pixels (`grabcut_sure`), then the floor: GrabCut
     from the box alone unless the mask fits the photo's colours better (`grabcut_floor`). The recipe is
     written into the result's run directory (postprocess.json), scored or not, which the score,
     experiments.segment and the Python API apply.
The check: a GAN run whose mean flip consistency falls below its start's by more than `max_drop` has
lost the object; it is run again with the next seed up to `retries` times, and if no run passes the
cycles end with the last student (and the ensemble of the last ones). With `pick_every` the GAN run
saves every so many steps and its student learns from the most flip-consistent checkpoint instead of
the last.

`for_dataset` gives the chain on the set of make horse-prep or cub-prep, `for_prepared` on any
prepared set (make folder-prep's), its paths derived from the set. `plan(config, checks)` is a pure
function: the stages to run given the outcomes of the checks run so far (a check not yet run counts
as passed, which is the plan --dry_run prints). refine_run.run runs the first stage not yet run,
reads a check's outcome from its consistency.json, plans again, and so on.
Every stage is its own run directory under `config.chain` and every entry point resumes its run, so
running the same chain again resumes the stage that was cut and lets the finished ones say so.
TensorFlow-free, as refine_run (the stages are subprocesses).
"""
import dataclasses
import json
import math
import os
import sys
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.postprocess import floor
from ind_prior_tf.postprocess import stage as postprocess

FGSEG, DISTILL, ENSEMBLE = "experiments.fgseg", "experiments.distill", "experiments.ensemble"
CONSISTENCY, EVALUATE = "experiments.consistency", "experiments.evaluate"


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
  # floor_margin and overlaps the cut by floor_agreement (postprocess.PostConfig, floor.py).
  grabcut_floor: bool = True
  floor_margin: float = floor.MARGIN
  floor_agreement: float = floor.AGREEMENT
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
                  floor_margin=(-1, 1, True), floor_agreement=(0, 1, True))
    for name, (low, high, closed) in ranges.items():
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and low <= value
              and (value <= high if closed else value < high)):
        raise ConfigError(f"--{name}={value}: expected a number in [{low:g}, {high:g}"
                          f"{']' if closed else ')'}")
    if not isinstance(self.grabcut_floor, bool):
      raise ConfigError(f"--grabcut_floor={self.grabcut_floor}: expected true or false")
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


@dataclasses.dataclass(frozen=True)
class Stage:
  """One process of the chain: `python -m module *argv`, writing to (or, for a check, into) run_dir,
  after the stages named in `after`, whose run directories it reads."""
  name: str
  module: str
  argv: tuple
  run_dir: str
  after: tuple = ()
  recipe: Optional[object] = None  # a postprocess.PostConfig written into run_dir before it runs

  @property
  def is_check(self):
    return self.module == CONSISTENCY

  def command(self, python=sys.executable):
    return [python, "-m", self.module, *self.argv]

  def flag(self, name):
    """The value of the last --name=value in argv (as absl reads it), or None."""
    values = [a.split("=", 1)[1] for a in self.argv if a.startswith(f"--{name}=")]
    return values[-1] if values else None

  def switch(self, name):
    """The value of the boolean flag --name (--name, --noname, --name=true ...) as absl reads it."""
    value = False
    for a in self.argv:
      if a in (f"--{name}", f"--no{name}"):
        value = a == f"--{name}"
      elif a.startswith(f"--{name}="):
        value = a.split("=", 1)[1].lower() in ("true", "t", "1")
    return value


@dataclasses.dataclass(frozen=True)
class Check:
  """What a check found: whether its GAN run kept its start's flip consistency, and the checkpoint
  experiments.consistency picked (the latest one without --all_checkpoints)."""
  passed: bool
  checkpoint: Optional[str] = None
  score: Optional[float] = None
  baseline: Optional[float] = None


def score_recipe(config):
  """The post-processing the chain scores its result with (a postprocess.PostConfig)."""
  c = config
  return postprocess.PostConfig(
      flip_average=c.flip_average_score, shift_average=c.shift_average_score,
      crf_weight=c.crf_weight, crf_context=c.crf_context if c.crf_weight else 0.0,
      guided_radius=c.guided_radius, grabcut_iters=c.grabcut,
      grabcut_sure=c.grabcut_sure if c.grabcut else 0.0, grabcut_floor=c.grabcut_floor,
      floor_margin=c.floor_margin, floor_agreement=c.floor_agreement)


def result_of(stages):
  """The run directory of a plan's result: the run its score scores, or without a score the last
  student, ensemble or teacher (never a cycle's GAN run, which a failed check may leave last)."""
  if stages[-1].name == "score":
    return stages[-1].run_dir
  return next(s.run_dir for s in reversed(stages)
              if s.module in (DISTILL, ENSEMBLE) or s.name == "teacher")


def picked_placeholder(check_name):
  return f"<picked by {check_name}>"


def plan(config, checks=None):
  """The stages of the chain, in order, given the outcomes of the checks run so far ({stage name:
  Check}); a check without an outcome yet counts as passed."""
  c, checks = config, checks or {}
  chain = lambda run: os.path.join(c.chain, run)
  raw = (f"--raw_root={c.raw_root}",) if c.raw_root else ()  # none: the stage reads meta.json's
  grabcut = (f"--grabcut_iters={c.grabcut}", *raw) if c.grabcut else ()
  fgseg_common = (f"--prepared={c.prepared}", "--split=all", f"--backgrounds={c.backgrounds}",
                  f"--preset={c.teacher_preset}")
  gan_common = (*fgseg_common, f"--image_size={c.image_size}")
  teacher_size = c.teacher_size or c.image_size
  # A student takes its teacher's size unless told: with a smaller teacher, the chain's size.
  sized = (f"--image_size={c.image_size}",) if teacher_size != c.image_size else ()
  student_common = (f"--prepared={c.prepared}", "--split=all",
                    f"--backgrounds={c.student_backgrounds}", f"--preset={c.student_preset}", *sized,
                    f"--steps={c.student_steps}", *grabcut, f"--seed={c.seed}",
                    *(("--flip_average_labels",) if c.flip_average_labels else ()),
                    *((f"--ema_decay={c.student_ema_decay:g}",) if c.student_ema_decay else ()),
                    *c.distill_args)

  def student(name, teacher, cycle, checkpoint=None):
    picked = (f"--teacher_checkpoint={checkpoint}",) if checkpoint else ()
    hard = c.hard_args if cycle >= c.hard_from else ()
    return Stage(name, DISTILL, (*student_common, f"--teacher={teacher.run_dir}", *picked,
                                 f"--logdir={chain(name)}", *hard), chain(name), (teacher.name,))

  last = Stage("teacher", FGSEG, (*fgseg_common, f"--image_size={teacher_size}",
                                  f"--seed={c.seed}", *c.fgseg_args,
                                  f"--steps={c.teacher_steps}", f"--logdir={chain('teacher')}"),
               chain("teacher"))
  stages = [last]
  students = []
  for r in range(1, c.rounds + 1):
    last = student(f"student{r}", last, 0)
    stages.append(last)
    students.append(last)
  checking = c.max_drop is not None or c.pick_every > 0
  for cycle in range(1, c.cycles + 1):
    steps = c.refine_steps[min(cycle, len(c.refine_steps)) - 1]
    save = (f"--save_every={steps}",)
    if c.pick_every:
      save = (f"--save_every={c.pick_every}", f"--max_to_keep={-(-steps // c.pick_every)}")
    teacher = checkpoint = None
    for attempt in range(c.retries + 1):
      seed = 1000 * c.seed + attempt + 1
      name = f"refine{cycle}-gan" + (f"-seed{seed}" if attempt else "")
      gan = Stage(name, FGSEG, (*gan_common, *c.fgseg_args, f"--steps={steps}", *save,
                                f"--seed={seed}", f"--init_from={last.run_dir}",
                                f"--logdir={chain(name)}", *c.gan_args), chain(name), (last.name,))
      stages.append(gan)
      if not checking:
        teacher = gan
        break
      baseline = (f"--baseline={last.run_dir}", f"--max_drop={c.max_drop}") \
          if c.max_drop is not None else ()
      check = Stage(f"{name}-check", CONSISTENCY,
                    (f"--run_dir={gan.run_dir}", f"--prepared={c.prepared}",
                     *(("--all_checkpoints",) if c.pick_every else ()), *baseline),
                    gan.run_dir, (gan.name, last.name))
      stages.append(check)
      outcome = checks.get(check.name)
      if outcome is None or outcome.passed:
        teacher = gan
        if c.pick_every:
          checkpoint = outcome.checkpoint if outcome else picked_placeholder(check.name)
        break
    if teacher is None:  # no GAN run of this cycle passed: the cycles end with the last student
      break
    last = student(f"refine{cycle}", teacher, cycle, checkpoint)
    stages.append(last)
    students.append(last)
  members = students[-c.ensemble:] if c.ensemble > 1 else []
  if len(members) > 1:  # the ensemble is a pure function of the plan: rewriting it loses nothing
    last = Stage("ensemble", ENSEMBLE, (f"--members={','.join(s.run_dir for s in members)}",
                                        f"--logdir={chain('ensemble')}", "--overwrite"),
                 chain("ensemble"), tuple(s.name for s in members))
    stages.append(last)
  # The score applies the recipe that the result carries (experiments.evaluate --postprocess=run).
  photos = (f"--raw_root={c.raw_root}",) if c.raw_root and score_recipe(c).needs_photos else ()
  stages.append(Stage("score", EVALUATE, (f"--run_dir={last.run_dir}", f"--prepared={c.prepared}",
                                          f"--split={c.score_split}", *photos,
                                          f"--out_dir={chain('score')}", *c.eval_args),
                      last.run_dir, (last.name,), recipe=score_recipe(c)))
  return stages if c.score else stages[:-1]
