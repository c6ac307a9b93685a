"""The refinement chain's executor: `run(config)` runs the stages that refine.plan lists, one after
another, reading each check's outcome as it comes (what experiments/refine.py calls).

A stage is a subprocess (`subprocess_runner`, or any runner(stage) -> exit status, which the tests
give); the chain stops at the first stage that fails (StageError). TensorFlow-free.
"""
import json
import os
import shlex
import subprocess
import sys

from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.refine.config import ConfigError
from ind_prior_tf.refine.plan import Check, plan, result_of, score_recipe
from ind_prior_tf.runtime import runinfo

DROPPED = 3  # experiments.consistency's exit status for a run below its baseline by over --max_drop
RESULT_FILE = "result.txt"  # in the chain's folder once it has finished: its result run's name


class StageError(RuntimeError):
  """A stage exited with a status other than success; the chain stops there."""

  def __init__(self, stage, returncode):
    super().__init__(f"{stage.name} ({stage.module}) exited with status {returncode}")
    self.stage, self.returncode = stage, returncode


def read_check(stage, max_drop):
  """The outcome of a check stage that ran, from <run_dir>/consistency.json: it fails when the GAN
  run's mean flip consistency is below its baseline's by more than max_drop."""
  with open(os.path.join(stage.run_dir, "consistency.json")) as f:
    report = json.load(f)
  score, base = report["flip_consistency"], report.get("baseline_flip_consistency")
  passed = max_drop is None or base is None or not score < base - max_drop
  return Check(passed, report["checkpoint"], score, base)


def scores_path(stage):
  """Where experiments.evaluate writes the score stage's scores.json (the plan gives --out_dir)."""
  return os.path.join(stage.flag("out_dir"), "scores.json")


def subprocess_runner(python=sys.executable, cwd=None, env=None):
  """Runs a stage as `python -m module argv` in cwd with env (default: this process's), its output
  going to this process's; returns its exit status."""
  def run_stage(stage):
    proc = subprocess.Popen(stage.command(python), cwd=cwd, env=env)
    while True:
      try:
        return proc.wait()
      except KeyboardInterrupt:  # the stage got Ctrl-C too: let it save its checkpoint and exit
        continue
  return run_stage


def check_teacher(config):
  """ConfigError when the chain's folder holds a teacher trained to another step count whose
  students already exist: going on would extend that teacher (its old last checkpoint rotated
  away) and then stop at the first student, which learned from the old one. A teacher alone is
  simply resumed to the new count."""
  teacher, *rest = plan(config)
  flags = runinfo.try_read_flags(teacher.run_dir)
  if flags is None:
    return  # no teacher yet, or flags.json unreadable: the teacher's own run says so in one line
  steps = flags.get("steps")
  later = [s.name for s in rest if runinfo.has_flags(s.run_dir)]
  if steps != config.teacher_steps and later:
    raise ConfigError(f"--teacher_steps={config.teacher_steps}: {config.chain} holds a chain "
                      f"whose teacher was set to {steps} steps and whose {later[0]} learned from "
                      f"it; give --teacher_steps={steps} to go on with it, or another --chain")


def say(line):
  print(line, flush=True)


def run(config, runner=None, python=sys.executable, log=say):
  """Runs (or resumes) the chain of `config`: each stage's command is logged before it runs. Returns
  {"result": the chain's result run (the one scored), "scores": its scores.json (None if absent or
  not scored), "stages": the names of the stages run}, and names the result in <chain>/result.txt.
  A stage that fails raises StageError (returncode: its exit status); a chain folder of another
  teacher length, ConfigError before anything runs (check_teacher).
  runner(stage) -> exit status runs one stage (default: subprocess_runner(python)); log(line)
  reports."""
  config.validate()
  check_teacher(config)
  runner = runner or subprocess_runner(python)
  checks, done = {}, []
  while True:
    stage = next((s for s in plan(config, checks) if s.name not in done), None)
    if stage is None:
      break
    if stage.recipe is not None:  # the result carries the post-processing it is scored with
      path = postprocess.write_recipe(stage.run_dir, stage.recipe)
      log(f"the result carries its recipe: wrote {path} ({stage.recipe.describe()})")
    log(f"[{stage.name}] {shlex.join(stage.command(python))}")
    returncode = runner(stage)
    # A check is given --max_drop so that it prints its own verdict, and then exits with DROPPED
    # when it fails; the decision is read_check's, from the report it wrote.
    if returncode != 0 and not (stage.is_check and returncode == DROPPED):
      raise StageError(stage, returncode)
    done.append(stage.name)
    if stage.is_check:
      checks[stage.name] = outcome = read_check(stage, config.max_drop)
      if not outcome.passed:
        retry = next((s for s in plan(config, checks) if s.name not in done), None)
        if retry is None or retry.name in ("ensemble", "score"):  # no GAN run left to try
          then = f"the chain ends with {stage.flag('baseline')}" + (
              ", and its result is the ensemble of the last students"
              if retry and retry.name == "ensemble" else "")
        else:
          then = f"running {retry.name} instead"
        log(f"{stage.name}: flip consistency {outcome.score:.3f}, below {stage.flag('baseline')}'s "
            f"{outcome.baseline:.3f} by more than max_drop={config.max_drop}; {then}")
  stages = plan(config, checks)
  scores = None
  if stages[-1].name == "score" and os.path.isfile(scores_path(stages[-1])):
    with open(scores_path(stages[-1])) as f:
      scores = json.load(f)
  result = result_of(stages)
  if stages[-1].name != "score":  # not scored (a set without masks): it carries its recipe all the same
    path = postprocess.write_recipe(result, score_recipe(config))
    log(f"the result carries its recipe: wrote {path} ({score_recipe(config).describe()})")
  write_result(config.chain, result)
  return dict(result=result, scores=scores, stages=done)


def write_result(chain, run_dir):
  """<chain>/result.txt: the result run's folder relative to the chain's (one line), replaced
  whole, so that make folder-segment finds the chain's result only once the chain has finished."""
  path = os.path.join(chain, RESULT_FILE)
  os.makedirs(chain, exist_ok=True)
  with open(path + ".tmp", "w") as f:
    f.write(os.path.relpath(run_dir, chain) + "\n")
  os.replace(path + ".tmp", path)


def read_result(chain):
  """The result run of a finished chain (write_result's), or None."""
  try:
    with open(os.path.join(chain, RESULT_FILE)) as f:
      name = f.read().strip()
  except OSError:
    return None
  return os.path.join(chain, name) if name else None
