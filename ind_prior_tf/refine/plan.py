"""The refinement chain (make horse-refine, cub-refine) as a plan of stages; refine/run.py runs it,
refine/config.py holds its config.

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
import os
import sys
from typing import Optional

from ind_prior_tf.postprocess import stage as postprocess

FGSEG, DISTILL, ENSEMBLE = "experiments.fgseg", "experiments.distill", "experiments.ensemble"
CONSISTENCY, EVALUATE = "experiments.consistency", "experiments.evaluate"


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
  post = postprocess.PostConfig(
      flip_average=c.flip_average_score, shift_average=c.shift_average_score,
      crf_weight=c.crf_weight, crf_context=c.crf_context if c.crf_weight else 0.0,
      guided_radius=c.guided_radius, grabcut_iters=c.grabcut,
      grabcut_sure=c.grabcut_sure if c.grabcut else 0.0, grabcut_floor=c.grabcut_floor,
      floor_margin=c.floor_margin, floor_agreement=c.floor_agreement,
      floor_trust=c.floor_trust, grey_network=c.grey_network)
  # Without a colour step there is nothing for a grey photo to skip: the recipe is the plain one.
  return post if post.after_network else dataclasses.replace(post, grey_network=False)


def result_of(stages):
  """The run directory of a plan's result: the run its score scores, or without a score the last
  student, ensemble or teacher (never a cycle's GAN run, which a failed check may leave last)."""
  if stages[-1].name == "score":
    return stages[-1].run_dir
  return next(s.run_dir for s in reversed(stages)
              if s.module in (DISTILL, ENSEMBLE) or s.name == "teacher")


def picked_placeholder(check_name):
  return f"<picked by {check_name}>"


def _cycle_gan(c, checks, cycle, last, gan_common, stages):
  """Appends to `stages` the GAN runs of refinement cycle `cycle` from the student `last` (each
  followed by its check, if any), retried with the next seed while a check failed; returns (the run
  that passed or None, the checkpoint its check picked or None)."""
  chain = lambda run: os.path.join(c.chain, run)
  checking = c.max_drop is not None or c.pick_every > 0
  steps = c.refine_steps[min(cycle, len(c.refine_steps)) - 1]
  save = (f"--save_every={steps}",)
  if c.pick_every:
    save = (f"--save_every={c.pick_every}", f"--max_to_keep={-(-steps // c.pick_every)}")
  for attempt in range(c.retries + 1):
    seed = 1000 * c.seed + attempt + 1
    name = f"refine{cycle}-gan" + (f"-seed{seed}" if attempt else "")
    gan = Stage(name, FGSEG, (*gan_common, *c.fgseg_args, f"--steps={steps}", *save,
                              f"--seed={seed}", f"--init_from={last.run_dir}",
                              f"--logdir={chain(name)}", *c.gan_args), chain(name), (last.name,))
    stages.append(gan)
    if not checking:
      return gan, None
    baseline = (f"--baseline={last.run_dir}", f"--max_drop={c.max_drop}") \
        if c.max_drop is not None else ()
    check = Stage(f"{name}-check", CONSISTENCY,
                  (f"--run_dir={gan.run_dir}", f"--prepared={c.prepared}",
                   *(("--all_checkpoints",) if c.pick_every else ()), *baseline),
                  gan.run_dir, (gan.name, last.name))
    stages.append(check)
    outcome = checks.get(check.name)
    if outcome is None or outcome.passed:
      if c.pick_every:
        return gan, outcome.checkpoint if outcome else picked_placeholder(check.name)
      return gan, None
  return None, None


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
  for cycle in range(1, c.cycles + 1):
    teacher, checkpoint = _cycle_gan(c, checks, cycle, last, gan_common, stages)
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
