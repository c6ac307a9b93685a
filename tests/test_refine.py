"""The refinement chain's plan and executor (ind_prior_tf/refine.py) and its entry point, without
TensorFlow: the stages are checked as argv lists and run by a fake runner. The toy-size run through
the real entry points is in test_fgseg_e2e.py."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from experiments import refine as refine_main
from ind_prior_tf import apply_config, refine, refine_run
from tests import entry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P, C = "prepared", "runs/horse-refine"
FGSEG = (f"--prepared={P}/horse", "--split=all", f"--backgrounds={P}/horse_bg.npz",
         "--preset=horse-cpu", "--image_size=128")
RAW = "--raw_root=../shared/data/weizmann_horse"


def student(steps, teacher, logdir, *picked, hard=(), grabcut=("--grabcut_iters=3", RAW), seed=0,
            flip=("--flip_average_labels",), extra=("--ema_decay=0.99",),
            size=("--image_size=128",)):
  return ["experiments.distill", f"--prepared={P}/horse", "--split=all",
          f"--backgrounds={P}/horse_bg_sharp.npz", "--preset=cpu", *size, f"--steps={steps}", *grabcut,
          f"--seed={seed}", *flip, *extra, f"--teacher={C}/{teacher}", *picked,
          f"--logdir={C}/{logdir}", *hard]


def gan(steps, start, logdir, seed=1, save=None, extra=(), gan_args=()):
  return ["experiments.fgseg", *FGSEG, *extra, f"--steps={steps}",
          *(save or [f"--save_every={steps}"]), f"--seed={seed}", f"--init_from={C}/{start}",
          f"--logdir={C}/{logdir}", *gan_args]


def check(run, baseline, *pick, max_drop="0.13"):
  return ["experiments.consistency", f"--run_dir={C}/{run}", f"--prepared={P}/horse", *pick,
          *([f"--baseline={C}/{baseline}", f"--max_drop={max_drop}"] if baseline else [])]


HARD = ("--label_threshold=0.5", "--recolor=0.5")
# make horse-refine: the argv of every stage of the best recipe, written out by hand. The bash chain
# ran the same with ROUNDS=1 STUDENT_STEPS=1000 CYCLES=3 HARD_FROM=0 REFINE_STEPS="125 25" GRABCUT=3
# FGSEG_ARGS=--seed=0 DISTILL_ARGS="--seed=0 --flip_average_labels" EVAL_ARGS=--flip_average, but
# for the --seed=0 it also gave the GAN runs before their own --seed=1.
BEST = [
    ["experiments.fgseg", *FGSEG[:-1], "--image_size=64", "--seed=0", "--steps=6000",
     f"--logdir={C}/teacher"],
    student(1000, "teacher", "student1", hard=HARD),
    gan(125, "student1", "refine1-gan"), check("refine1-gan", "student1"),
    student(1000, "refine1-gan", "refine1", hard=HARD),
    gan(25, "refine1", "refine2-gan"), check("refine2-gan", "refine1"),
    student(1000, "refine2-gan", "refine2", hard=HARD),
    gan(25, "refine2", "refine3-gan"), check("refine3-gan", "refine2"),
    student(1000, "refine3-gan", "refine3", hard=HARD),
    ["experiments.ensemble", f"--members={C}/refine1,{C}/refine2,{C}/refine3",
     f"--logdir={C}/ensemble", "--overwrite"],
    ["experiments.evaluate", f"--run_dir={C}/ensemble", f"--prepared={P}/horse", "--split=train",
     "--grabcut_iters=3", RAW, "--grabcut_sure=0.05", "--shift_average=4", "--crf_weight=5",
     "--crf_context=0.5", "--guided_radius=4", "--flip_average"],
]


def argvs(stages):
  return [[s.module, *s.argv] for s in stages]


def test_default_plan_is_the_best_recipe():
  stages = refine.plan(refine.for_dataset("horse").validate())
  assert argvs(stages) == BEST
  assert [s.name for s in stages] == [
      "teacher", "student1", "refine1-gan", "refine1-gan-check", "refine1", "refine2-gan",
      "refine2-gan-check", "refine2", "refine3-gan", "refine3-gan-check", "refine3", "ensemble",
      "score"]
  assert stages[2].after == ("student1",) and stages[3].after == ("refine1-gan", "student1")
  assert stages[4].after == ("refine1-gan",) and stages[-1].after == ("ensemble",)
  assert stages[-2].after == ("refine1", "refine2", "refine3")
  assert refine_run.scores_path(stages[-1]) == f"{C}/ensemble/eval-train-flip-grabcut/scores.json"
  assert refine.RefineConfig() == refine.for_dataset("horse")


def test_teacher_size_sets_only_the_teachers_crops():
  stages = refine.plan(refine.for_dataset("horse", teacher_size=64).validate())
  teacher = [s for s in stages if s.name == "teacher"][0]
  assert teacher.flag("image_size") == "64" and teacher.argv.count("--image_size=64") == 1
  assert all(s.flag("image_size") == "128" for s in stages if s.name.endswith("-gan"))
  # The students, which would take their teacher's size, are told the chain's.
  assert all(s.flag("image_size") == "128" for s in stages if s.module == refine.DISTILL)
  assert refine.plan(refine.for_dataset("horse", teacher_size=128))[1].flag("image_size") is None


def test_old_bash_defaults_with_pick_retries_and_extra_args():
  """The bash chain's old defaults (2 rounds of 2500 steps, hard labels from cycle 2, no GrabCut, no
  flip averaging) with PICK_EVERY=50 and per-stage extra flags, every check passing."""
  config = refine.for_dataset(
      "horse", teacher_size=0, teacher_steps=2000, rounds=2, student_steps=2500, refine_steps=(125,),
      hard_from=2,
      grabcut=0, ensemble=1, guided_radius=0, crf_weight=0, shift_average_score=0,
      flip_average_labels=False, flip_average_score=False, student_ema_decay=0, pick_every=50,
      retries=1, seed=4,
      fgseg_args=("--jit=false",), distill_args=("--batch_size=8",), gan_args=("--recolor=0.5",),
      eval_args=("--cases=0",)).validate()
  checks = {f"refine{c}-gan-check": refine.Check(True, f"/abs/refine{c}-gan/ckpt/ckpt-{c}")
            for c in (1, 2, 3)}
  got = argvs(refine.plan(config, checks))
  plain = dict(grabcut=(), seed=4, flip=(), extra=("--batch_size=8",), size=())
  pick = ["--save_every=50", "--max_to_keep=3"]
  want = [
      ["experiments.fgseg", *FGSEG, "--seed=4", "--jit=false", "--steps=2000",
       f"--logdir={C}/teacher"],
      student(2500, "teacher", "student1", **plain),
      student(2500, "student1", "student2", **plain),
  ]
  start = "student2"
  for c in (1, 2, 3):
    want += [gan(125, start, f"refine{c}-gan", save=pick, extra=("--jit=false",),
                 gan_args=("--recolor=0.5",)),
             check(f"refine{c}-gan", start, "--all_checkpoints"),
             student(2500, f"refine{c}-gan", f"refine{c}",
                     f"--teacher_checkpoint=/abs/refine{c}-gan/ckpt/ckpt-{c}",
                     hard=HARD if c >= 2 else (), **plain)]
    start = f"refine{c}"
  want.append(["experiments.evaluate", f"--run_dir={C}/refine3", f"--prepared={P}/horse",
               "--split=train", "--cases=0"])
  assert got == want


def test_retries_take_the_next_seed_and_a_cycle_without_a_passing_run_ends_the_chain():
  config = refine.for_dataset("horse", retries=2, cycles=2)
  failed = refine.Check(False, "x")
  stages = refine.plan(config, {"refine1-gan-check": failed})
  names = [s.name for s in stages]
  assert names[2:7] == ["refine1-gan", "refine1-gan-check", "refine1-gan-seed2",
                        "refine1-gan-seed2-check", "refine1"]
  retry = stages[4]
  assert retry.flag("seed") == "2" and retry.flag("init_from") == f"{C}/student1"
  assert retry.flag("logdir") == f"{C}/refine1-gan-seed2" == retry.run_dir
  assert stages[5].flag("baseline") == f"{C}/student1"
  assert stages[6].flag("teacher") == f"{C}/refine1-gan-seed2"  # the run that passed
  assert "--teacher_checkpoint" not in " ".join(stages[6].argv)  # no pick: its last checkpoint
  # Every run of cycle 2 fails: three runs (seeds 1-3), then the score of the ensemble of the
  # students there are (student1 and refine1; the last alone with ensemble=1).
  outcomes = {"refine1-gan-check": refine.Check(True), "refine2-gan-check": failed,
              "refine2-gan-seed2-check": failed, "refine2-gan-seed3-check": failed}
  stages = refine.plan(config, outcomes)
  assert [s.name for s in stages][-9:] == [
      "refine1", "refine2-gan", "refine2-gan-check", "refine2-gan-seed2", "refine2-gan-seed2-check",
      "refine2-gan-seed3", "refine2-gan-seed3-check", "ensemble", "score"]
  assert stages[-2].flag("members") == f"{C}/student1,{C}/refine1"
  assert stages[-1].flag("run_dir") == f"{C}/ensemble" and stages[-1].after == ("ensemble",)
  alone = refine.plan(dataclasses.replace(config, ensemble=1), outcomes)
  assert alone[-1].flag("run_dir") == f"{C}/refine1" and alone[-1].after == ("refine1",)
  # The default score: shift averaging, the colour CRF on the photo, guided filter, GrabCut holding
  # the sure pixels, the cut alone (no fusion); only the score gets them.
  assert alone[-1].argv[-6:] == ("--grabcut_sure=0.05", "--shift_average=4", "--crf_weight=5",
                                 "--crf_context=0.5", "--guided_radius=4", "--flip_average")
  assert not any(a.startswith("--grabcut_weight") for a in alone[-1].argv)
  assert all(not {"--guided_radius=4", "--crf_weight=5", "--shift_average=4"} & set(s.argv)
             for s in alone[:-1])
  old = dataclasses.replace(config, grabcut_weight=0.45, grabcut_sure=0, guided_radius=0,
                            crf_weight=0, shift_average_score=0)
  old = refine.plan(old, outcomes)[-1]  # the recipe before 2026-12-03
  assert "--grabcut_weight=0.45" in old.argv
  assert not any(a.startswith(("--grabcut_sure", "--guided", "--crf", "--shift")) for a in old.argv)
  no_cut = refine.plan(dataclasses.replace(config, grabcut=0, grabcut_sure=0.05), outcomes)[-1]
  assert not any(a.startswith("--grabcut") for a in no_cut.argv)  # nothing to hold without a cut


def test_crf_context_reaches_the_score_with_the_raw_photos():
  config = refine.RefineConfig(crf_context=0.5)
  score = refine.plan(config)[-1]
  assert score.flag("crf_context") == "0.5" and score.flag("raw_root") == config.raw_root
  assert all(s.flag("crf_context") is None for s in refine.plan(config)[:-1])
  # Without GrabCut the score still needs the photos; without the CRF there is no context.
  no_cut = refine.plan(dataclasses.replace(config, grabcut=0))[-1]
  assert no_cut.flag("raw_root") == config.raw_root and no_cut.flag("crf_context") == "0.5"
  no_crf = refine.plan(dataclasses.replace(config, crf_weight=0))[-1]
  assert no_crf.flag("crf_context") is None and no_crf.flag("crf_weight") is None
  with pytest.raises(refine.ConfigError, match="--raw_root"):
    dataclasses.replace(config, grabcut=0, raw_root="").validate()
  dataclasses.replace(config, grabcut=0, crf_weight=0, raw_root="").validate()  # nothing to read
  with pytest.raises(refine.ConfigError, match="--crf_context=3"):
    dataclasses.replace(config, crf_context=3).validate()


def test_shift_averaging_reaches_the_score_alone():
  stages = refine.plan(refine.RefineConfig(shift_average_score=8))
  assert stages[-1].flag("shift_average") == "8" and stages[-1].switch("flip_average")
  assert all(s.flag("shift_average") is None for s in stages[:-1])
  assert refine.plan(refine.RefineConfig(shift_average_score=0))[-1].flag("shift_average") is None
  with pytest.raises(refine.ConfigError, match="--shift_average_score=-1"):
    refine.RefineConfig(shift_average_score=-1).validate()
  with pytest.raises(refine.ConfigError, match="--shift_average_score=33"):  # before any stage runs
    refine.RefineConfig(shift_average_score=33).validate()


def test_checks_hard_labels_steps_and_grabcut():
  names = lambda config: [s.name for s in refine.plan(config)]
  # No check and no pick: no consistency stage at all.
  assert "refine1-gan-check" not in names(refine.RefineConfig(max_drop=None))
  # A pick without a check: consistency picks, with no baseline; a check without a result passes.
  stages = refine.plan(refine.RefineConfig(max_drop=None, pick_every=25))
  assert argvs(stages)[3] == check("refine1-gan", None, "--all_checkpoints")
  assert stages[4].flag("teacher_checkpoint") == "<picked by refine1-gan-check>"
  assert stages[2].flag("save_every") == "25" and stages[2].flag("max_to_keep") == "5"
  assert stages[5].flag("max_to_keep") == "1"  # 25 steps, saved every 25
  # Steps per cycle: the last count for the cycles after the list; hard labels from cycle 2.
  stages = refine.plan(refine.RefineConfig(refine_steps=(7, 5, 3), cycles=4, hard_from=2))
  gans = [s for s in stages if s.name.endswith("-gan")]
  assert [s.flag("steps") for s in gans] == ["7", "5", "3", "3"]
  hard = {s.name: s.flag("label_threshold") for s in stages if s.module == refine.DISTILL}
  assert hard == dict(student1=None, refine1=None, refine2="0.5", refine3="0.5", refine4="0.5")
  # No rounds: the first GAN run starts from the teacher; no cycles: the round's student is scored.
  stages = refine.plan(refine.RefineConfig(rounds=0))
  assert stages[1].flag("init_from") == f"{C}/teacher"
  assert [s.name for s in refine.plan(refine.RefineConfig(cycles=0))] == [
      "teacher", "student1", "score"]
  # GrabCut 0 (and the CRF on the crop alone): neither students nor the score get its flags.
  flat = " ".join(a for s in refine.plan(refine.RefineConfig(grabcut=0, crf_context=0))
                  for a in s.argv)
  assert "grabcut" not in flat and "raw_root" not in flat


def test_student_ema_decay_goes_to_every_student_and_only_to_them():
  stages = refine.plan(refine.RefineConfig(student_ema_decay=0.99, distill_args=("--x=1",)))
  students = [s for s in stages if s.module == refine.DISTILL]
  assert [s.name for s in students] == ["student1", "refine1", "refine2", "refine3"]
  for s in students:  # before distill_args, so that they can override it
    assert s.flag("ema_decay") == "0.99"
    assert s.argv.index("--ema_decay=0.99") < s.argv.index("--x=1")
  assert all(s.flag("ema_decay") is None for s in stages if s.module != refine.DISTILL)
  off = refine.plan(refine.RefineConfig(student_ema_decay=0))
  assert all(s.flag("ema_decay") is None for s in off)


def test_cub_and_paths():
  config = refine.for_dataset("cub", prep_dir="/p", runs="/r", seed=3).validate()
  stages = refine.plan(config)
  assert stages[0].flag("preset") == "cpu" and stages[0].flag("backgrounds") == "/p/cub_bg.npz"
  assert stages[0].flag("logdir") == "/r/cub-refine/teacher" and stages[0].flag("seed") == "3"
  assert stages[1].flag("backgrounds") == "/p/cub_bg.npz" and stages[1].flag("seed") == "3"
  assert stages[2].flag("seed") == "1"  # the GAN runs' seeds do not follow --seed
  assert stages[-1].flag("split") == "all" and stages[-1].flag("raw_root") == "data/CUB_200_2011"
  with pytest.raises(refine.ConfigError, match="--dataset=celeba"):
    refine.for_dataset("celeba")


@pytest.mark.parametrize("change, flag", [
    (dict(pick_every=-1), "--pick_every=-1"), (dict(grabcut=-1), "--grabcut=-1"),
    (dict(retries=-2), "--retries=-2"), (dict(refine_steps=()), "--refine_steps"),
    (dict(refine_steps=(125, 0)), "--refine_steps=125,0"), (dict(cycles=1.5), "--cycles=1.5"),
    (dict(max_drop=float("nan")), "--max_drop=nan"), (dict(prepared=""), "--prepared"),
    (dict(grabcut=3, raw_root=""), "--raw_root"), (dict(fgseg_args="--jit=false"), "--fgseg_args"),
    (dict(student_ema_decay=1.0), "--student_ema_decay=1.0"),
    (dict(student_ema_decay=-0.5), "--student_ema_decay=-0.5")])
def test_validate_names_the_flag(change, flag):
  with pytest.raises(refine.ConfigError) as e:
    dataclasses.replace(refine.RefineConfig(), **change).validate()
  assert str(e.value).startswith(flag)


class FakeRunner:
  """Stands in for the subprocesses: logs each stage and writes what the chain reads back (a check's
  consistency.json, the score's scores.json); `drops` maps a check to its run's fall."""

  def __init__(self, drops=None, fail=None):
    self.drops, self.fail, self.ran = drops or {}, fail, []

  def __call__(self, stage):
    self.ran.append(stage.name)
    if stage.name == self.fail:
      return 1
    os.makedirs(stage.run_dir, exist_ok=True)
    if stage.is_check:
      drop = self.drops.get(stage.name, 0.0)
      report = dict(flip_consistency=0.9 - drop, checkpoint=f"{stage.run_dir}/ckpt/ckpt-2")
      if stage.flag("baseline"):
        report["baseline_flip_consistency"] = 0.9
      with open(os.path.join(stage.run_dir, "consistency.json"), "w") as f:
        json.dump(report, f)
      too_far = stage.flag("max_drop") and drop > float(stage.flag("max_drop"))
      return refine_run.DROPPED if too_far else 0
    if stage.name == "score":
      path = refine_run.scores_path(stage)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "w") as f:
        json.dump(dict(fg_iou=0.5, miou=0.6), f)
    return 0


def test_executor_decides_retries_from_consistency_json(tmp_path):
  config = refine.RefineConfig(chain=str(tmp_path / "chain"), retries=1, cycles=2, pick_every=25)
  runner, lines = FakeRunner(drops={"refine1-gan-check": 0.2, "refine2-gan-check": 0.3,
                                    "refine2-gan-seed2-check": 0.14}), []
  result = refine_run.run(config, runner, python="py", log=lines.append)
  assert runner.ran == [
      "teacher", "student1", "refine1-gan", "refine1-gan-check", "refine1-gan-seed2",
      "refine1-gan-seed2-check", "refine1", "refine2-gan", "refine2-gan-check", "refine2-gan-seed2",
      "refine2-gan-seed2-check", "ensemble", "score"]
  assert result["result"] == str(tmp_path / "chain" / "ensemble")
  assert result["scores"] == dict(fg_iou=0.5, miou=0.6) and result["stages"] == runner.ran
  commands = [l for l in lines if l.startswith("[")]
  assert len(commands) == len(runner.ran)
  assert commands[0].startswith("[teacher] py -m experiments.fgseg")
  picked = f"--teacher_checkpoint={tmp_path}/chain/refine1-gan-seed2/ckpt/ckpt-2"
  assert picked in [l for l in lines if l.startswith("[refine1]")][0]
  assert "refine1-gan-check: flip consistency 0.700, below" in lines[4]
  assert lines[4].endswith("running refine1-gan-seed2 instead")
  assert lines[-3].endswith(f"the chain ends with {tmp_path}/chain/refine1, and its result is the "
                            "ensemble of the last students")
  # A rerun starts again from the top: every entry point resumes its own run, the finished ones
  # return at once, and the checks decide as before.
  again = FakeRunner(drops=runner.drops)
  assert refine_run.run(config, again, log=lambda line: None) == result and again.ran == runner.ran


def test_executor_refuses_a_chain_whose_teacher_had_another_length(tmp_path):
  """A chain of the old 4000-step default, rerun with 6000: nothing runs, the teacher's
  checkpoints are left as they are, one error names the flag; with the old count, or a teacher
  alone, it runs."""
  config = refine.RefineConfig(chain=str(tmp_path), teacher_steps=6000)
  for stage, flags in (("teacher", dict(steps=4000)), ("student1", dict(steps=1000))):
    os.makedirs(tmp_path / stage)
    (tmp_path / stage / "flags.json").write_text(json.dumps(flags))
  runner = FakeRunner()
  with pytest.raises(refine.ConfigError, match=r"^--teacher_steps=6000: .* teacher was set to "
                     r"4000 steps and whose student1 learned from it; give --teacher_steps=4000"):
    refine_run.run(config, runner, log=lambda line: None)
  assert runner.ran == []
  old = dataclasses.replace(config, teacher_steps=4000)
  assert refine_run.run(old, FakeRunner(), log=lambda line: None)["stages"][0] == "teacher"
  os.remove(tmp_path / "student1" / "flags.json")
  assert refine_run.run(config, FakeRunner(), log=lambda line: None)["stages"][0] == "teacher"
  (tmp_path / "teacher" / "flags.json").write_text('{"steps": 40')  # cut short: fgseg reports it
  refine_run.check_teacher(config)


def test_executor_stops_at_a_failed_stage(tmp_path):
  config = refine.RefineConfig(chain=str(tmp_path))
  runner = FakeRunner(fail="refine1-gan")
  with pytest.raises(refine_run.StageError) as e:
    refine_run.run(config, runner, log=lambda line: None)
  assert e.value.returncode == 1 and e.value.stage.name == "refine1-gan"
  assert runner.ran == ["teacher", "student1", "refine1-gan"]


@pytest.fixture
def chain_inputs(tmp_path, monkeypatch):
  """A working directory where the default paths of --dataset=horse and cub lead to inputs: the
  prepared sets (a meta.json), the pools and the raw sets (the entry point checks they exist)."""
  work = tmp_path / "work"
  for name in ("horse", "cub"):
    (work / "prepared" / name).mkdir(parents=True)
    (work / "prepared" / name / "meta.json").write_text("{}")
  for pool in ("horse_bg.npz", "horse_bg_sharp.npz", "cub_bg.npz"):
    (work / "prepared" / pool).write_text("")
  (tmp_path / "shared" / "data" / "weizmann_horse").mkdir(parents=True)
  (work / "data" / "CUB_200_2011").mkdir(parents=True)
  monkeypatch.chdir(work)
  return work


@pytest.mark.usefixtures("chain_inputs")
def test_entry_point_flags_and_dry_run(capsys):
  assert refine_main.main(["refine", "--dry_run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert [l.split()[2:] for l in lines] == [[m, *a] for m, *a in argvs(refine.plan(
      refine.RefineConfig()))]
  args = ["refine", "--dataset=cub", "--prep_dir=prepared", "--runs=/r", "--seed=2", "--max_drop=none",
          "--refine_steps=9,8", "--cycles=2", "--gan_args=--recolor=0.5 --jit=false",
          "--hard_args=", "--noflip_average_score", "--ensemble=2", "--grabcut_weight=0.3",
          "--student_ema_decay=0.9", "--grabcut_sure=0.1", "--guided_radius=3", "--crf_weight=2.5",
          "--dry_run"]
  assert refine_main.main(args) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 8 and "consistency" not in " ".join(lines)
  assert lines[-2].endswith("--members=/r/cub-refine/refine1,/r/cub-refine/refine2 "
                            "--logdir=/r/cub-refine/ensemble --overwrite")
  assert {"--grabcut_weight=0.3", "--grabcut_sure=0.1", "--guided_radius=3",
          "--crf_weight=2.5"} <= set(lines[-1].split())
  assert lines[2].endswith("--steps=9 --save_every=9 --seed=1 --init_from=/r/cub-refine/student1 "
                           "--logdir=/r/cub-refine/refine1-gan --recolor=0.5 --jit=false")
  assert "label_threshold" not in lines[1] and "--flip_average" not in lines[-1].split()
  assert "--ema_decay=0.9" in lines[1].split() and "ema_decay" not in lines[0]


@pytest.mark.parametrize("flag, fragment", [
    ("--pick_every=-5", "--pick_every=-5"), ("--grabcut=three", "--grabcut"),
    ("--max_drop=lots", "--max_drop=lots"), ("--refine_steps=125,x", "--refine_steps=125,x"),
    ("--dataset=coins", "--dataset"), ("--bogus=1", "bogus"), ("--gan_args='--x", "--gan_args"),
    ("--ensemble=0", "--ensemble=0"), ("--grabcut_weight=1.5", "--grabcut_weight=1.5"),
    ("--student_ema_decay=1", "--student_ema_decay=1"),
    ("--grabcut_sure=0.5", "--grabcut_sure=0.5"), ("--guided_radius=-2", "--guided_radius=-2"),
    ("--crf_weight=-1", "--crf_weight=-1")])
def test_bad_flags_are_one_error_line(flag, fragment, capsys):
  assert refine_main.main(["refine", flag, "--dry_run"]) == 2
  captured = capsys.readouterr()
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
  assert captured.out == ""


@pytest.mark.usefixtures("chain_inputs")
def test_entry_point_exits_with_a_failed_stage_status(monkeypatch):
  def failing(config):
    raise refine_run.StageError(refine.plan(config)[2], 7)

  monkeypatch.setattr(refine_run, "run", failing)
  entry.call("experiments.refine").failed(7, "refine1-gan (experiments.fgseg) exited with status 7")


def test_entry_point_as_a_process():
  """The Makefile's way in: a bad flag, then the import, without TensorFlow (a process: a clean
  sys.modules is the point)."""
  line = entry.spawn("experiments.refine", "--retries=-1", timeout=60).failed(2, "--retries=-1")
  assert line.startswith("error: --retries=-1")
  p = subprocess.run([sys.executable, "-c", "import sys, experiments.refine; "
                      "assert 'tensorflow' not in sys.modules"], cwd=REPO, env=entry.env(),
                     timeout=60)
  assert p.returncode == 0


def test_the_subprocess_runner_runs_a_stage_as_python_dash_m_and_returns_its_status(tmp_path):
  runner = refine_run.subprocess_runner(cwd=entry.ROOT, env=entry.env())
  ok = refine.Stage("help", "experiments.refine", ("--help",), str(tmp_path))
  bad = refine.Stage("bad", "experiments.refine", ("--cycles=-1",), str(tmp_path))
  assert runner(ok) == 0 and runner(bad) == 2



def _config(module, cls, argv):
  """`module`'s config after parsing argv, --recipe applied."""
  F = module.F
  F.values.unparse_flags()
  F.values([module.__name__, *argv])
  config = cls(**{f.name: F[f.name].value for f in dataclasses.fields(cls)})
  return apply_config.with_recipe(config, F.recipe, {n for n in F.values if F.given(n)})


def test_recipe_chain_refines_masks_as_the_chains_score_does():
  from experiments import evaluate, segment  # pylint: disable=g-import-not-at-top
  score = refine.plan(refine.for_dataset("horse", prep_dir=P, runs="runs"))[-1]
  as_scored = _config(evaluate, apply_config.EvalConfig, score.argv)
  where = [a for a in score.argv if a.startswith(("--run_dir", "--prepared", "--split", "--raw"))]
  assert len(where) == 4
  # Every field, not only the recipe's: nothing the score sets is missing from the recipe.
  assert _config(evaluate, apply_config.EvalConfig, [*where, "--recipe=chain"]) == as_scored
  assert as_scored.grabcut_iters == 3 and as_scored.flip_average is True
  plain = _config(evaluate, apply_config.EvalConfig, where)
  assert plain.grabcut_iters == 0 and plain.guided_radius == 0  # none: as before
  # A flag given on the command line wins over the recipe; the rest is the recipe's.
  chain = _config(segment, apply_config.SegmentConfig, ["--images=x", "--recipe=chain"])
  mine = _config(segment, apply_config.SegmentConfig,
                 ["--images=x", "--recipe=chain", "--guided_radius=0", "--grabcut_iters=1"])
  assert mine == dataclasses.replace(chain, guided_radius=0, grabcut_iters=1)
  assert chain.grabcut_sure == as_scored.grabcut_sure and chain.flip_average
  r = entry.call("experiments.segment", "--images=x", "--recipe=best")
  r.failed(2, "--recipe")
