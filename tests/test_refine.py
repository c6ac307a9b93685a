"""The refinement chain's plan and executor (ind_prior_tf/refine/plan.py) and its entry point, without
TensorFlow: the stages are checked as argv lists and run by a fake runner. The toy-size run through
the real entry points is in test_fgseg_e2e.py."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from experiments import refine as refine_main
from ind_prior_tf import cli
from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.postprocess import floor
from ind_prior_tf.postprocess.stage import PostConfig
from ind_prior_tf.refine import config as refine_config
from ind_prior_tf.refine import plan as refine
from ind_prior_tf.refine import run as refine_run
from tests import entry
from tests.run_fixtures import FakeRunner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P, C = "prepared", "runs/horse-refine"
FGSEG = (f"--prepared={P}/horse", "--split=all", f"--backgrounds={P}/horse_bg.npz",
         "--preset=horse-cpu", "--image_size=128")


def student(steps, teacher, logdir, *picked, hard=(), grabcut=("--grabcut_iters=3",), seed=0,
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
# make horse-refine: the argv of every stage of the best recipe, written out by hand (the Makefile
# adds --raw_root=$(HORSE_ROOT) to the students and the score; without it they read the raw horses
# from where the prepared set's meta.json says make horse-prep found them). The bash chain
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
     f"--out_dir={C}/score"],
]
# What the score applies: the recipe written into the result before it runs (its postprocess.json).
BEST_RECIPE = PostConfig(flip_average=True, shift_average=4, crf_weight=5.0, crf_context=0.5,
                         guided_radius=4, grabcut_iters=3, grabcut_sure=0.05,
                         grabcut_floor=True, floor_margin=floor.MARGIN,
                         floor_agreement=floor.AGREEMENT, floor_trust=floor.TRUST,
                         grey_network=True)


def argvs(stages):
  return [[s.module, *s.argv] for s in stages]


def test_default_plan_is_the_best_recipe():
  stages = refine.plan(refine_config.for_dataset("horse").validate())
  assert argvs(stages) == BEST
  assert [s.name for s in stages] == [
      "teacher", "student1", "refine1-gan", "refine1-gan-check", "refine1", "refine2-gan",
      "refine2-gan-check", "refine2", "refine3-gan", "refine3-gan-check", "refine3", "ensemble",
      "score"]
  assert stages[2].after == ("student1",) and stages[3].after == ("refine1-gan", "student1")
  assert stages[4].after == ("refine1-gan",) and stages[-1].after == ("ensemble",)
  assert stages[-2].after == ("refine1", "refine2", "refine3")
  assert refine_run.scores_path(stages[-1]) == f"{C}/score/scores.json"
  assert stages[-1].recipe == BEST_RECIPE and all(s.recipe is None for s in stages[:-1])
  assert refine_config.RefineConfig() == refine_config.for_dataset("horse")


def test_teacher_size_sets_only_the_teachers_crops():
  stages = refine.plan(refine_config.for_dataset("horse", teacher_size=64).validate())
  teacher = [s for s in stages if s.name == "teacher"][0]
  assert teacher.flag("image_size") == "64" and teacher.argv.count("--image_size=64") == 1
  assert all(s.flag("image_size") == "128" for s in stages if s.name.endswith("-gan"))
  # The students, which would take their teacher's size, are told the chain's.
  assert all(s.flag("image_size") == "128" for s in stages if s.module == refine.DISTILL)
  assert refine.plan(refine_config.for_dataset("horse", teacher_size=128))[1].flag("image_size") is None


def test_old_bash_defaults_with_pick_retries_and_extra_args():
  """The bash chain's old defaults (2 rounds of 2500 steps, hard labels from cycle 2, no GrabCut, no
  floor, no flip averaging) with PICK_EVERY=50 and per-stage extra flags, every check passing."""
  config = refine_config.for_dataset(
      "horse", teacher_size=0, teacher_steps=2000, rounds=2, student_steps=2500, refine_steps=(125,),
      hard_from=2,
      grabcut=0, ensemble=1, guided_radius=0, crf_weight=0, shift_average_score=0,
      grabcut_floor=False, flip_average_labels=False, flip_average_score=False, student_ema_decay=0, pick_every=50,
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
    want += [gan(125, start, f"refine{c}-gan", seed=4001, save=pick, extra=("--jit=false",),
                 gan_args=("--recolor=0.5",)),
             check(f"refine{c}-gan", start, "--all_checkpoints"),
             student(2500, f"refine{c}-gan", f"refine{c}",
                     f"--teacher_checkpoint=/abs/refine{c}-gan/ckpt/ckpt-{c}",
                     hard=HARD if c >= 2 else (), **plain)]
    start = f"refine{c}"
  want.append(["experiments.evaluate", f"--run_dir={C}/refine3", f"--prepared={P}/horse",
               "--split=train", f"--out_dir={C}/score", "--cases=0"])
  assert got == want
  assert refine.plan(config, checks)[-1].recipe == PostConfig()  # nothing after the network


def test_retries_take_the_next_seed_and_a_cycle_without_a_passing_run_ends_the_chain():
  config = refine_config.for_dataset("horse", retries=2, cycles=2)
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
  # the sure pixels; only the score gets them, as the recipe its result carries.
  assert alone[-1].recipe == BEST_RECIPE
  assert all(not {"--guided_radius=4", "--crf_weight=5", "--shift_average=4"} & set(s.argv)
             for s in alone[:-1])
  no_cut = refine.plan(dataclasses.replace(config, grabcut=0, grabcut_sure=0.05), outcomes)[-1]
  assert no_cut.recipe.grabcut_iters == 0 and no_cut.recipe.grabcut_sure == 0  # nothing to hold


def test_crf_context_reaches_the_score_with_the_raw_photos():
  config = refine_config.RefineConfig(crf_context=0.5, raw_root="/raw")
  score = refine.plan(config)[-1]
  assert score.recipe.crf_context == 0.5 and score.flag("raw_root") == config.raw_root
  assert all(s.flag("crf_context") is None for s in refine.plan(config)[:-1])
  # Without GrabCut the score still needs the photos; without the CRF there is no context.
  no_cut = refine.plan(dataclasses.replace(config, grabcut=0))[-1]
  assert no_cut.flag("raw_root") == config.raw_root and no_cut.recipe.crf_context == 0.5
  no_crf = refine.plan(dataclasses.replace(config, crf_weight=0))[-1]
  assert no_crf.recipe.crf_context == 0 and no_crf.recipe.crf_weight == 0
  # No raw root (the default): no stage is given one, each reads the set's meta.json's.
  found = refine.plan(dataclasses.replace(config, raw_root=None).validate())
  assert all(s.flag("raw_root") is None for s in found) and found[-1].recipe.crf_context == 0.5
  assert found[1].flag("grabcut_iters") == "3" and found[-1].recipe.grabcut_iters == 3
  with pytest.raises(refine_config.ConfigError, match="--crf_context=3"):
    dataclasses.replace(config, crf_context=3).validate()


def test_shift_averaging_reaches_the_score_alone():
  stages = refine.plan(refine_config.RefineConfig(shift_average_score=8))
  assert stages[-1].recipe.shift_average == 8 and stages[-1].recipe.flip_average
  assert all(s.flag("shift_average") is None for s in stages[:-1])
  assert refine.plan(refine_config.RefineConfig(shift_average_score=0))[-1].recipe.shift_average == 0
  with pytest.raises(refine_config.ConfigError, match="--shift_average_score=-1"):
    refine_config.RefineConfig(shift_average_score=-1).validate()
  with pytest.raises(refine_config.ConfigError, match="--shift_average_score=33"):  # before any stage runs
    refine_config.RefineConfig(shift_average_score=33).validate()


def test_gan_seeds_follow_the_chains_seed_and_seed_0_keeps_1_2_3():
  def gan_seeds(seed):  # every GAN run of cycle 1 fails its check: the first run and two retries
    config, failed = refine_config.RefineConfig(seed=seed, retries=2), {}
    for _ in range(3):
      failed.update({s.name: refine.Check(False) for s in refine.plan(config, failed)
                     if s.is_check and s.name.startswith("refine1-")})
    return [s.flag("seed") for s in refine.plan(config, failed) if s.module == refine.FGSEG][1:]

  assert gan_seeds(0) == ["1", "2", "3"]  # cycle 1 failing every time: the first run, two retries
  assert gan_seeds(1) == ["1001", "1002", "1003"] and gan_seeds(21) == ["21001", "21002", "21003"]
  assert not set(gan_seeds(0)) & set(gan_seeds(1))
  # Seed 0's plan, every stage, is the recipe's of the recorded chains (BEST: GAN seeds 1).
  assert argvs(refine.plan(refine_config.RefineConfig(seed=0))) == argvs(refine.plan(refine_config.RefineConfig()))
  assert [s.flag("seed") for s in refine.plan(refine_config.RefineConfig()) if s.name.endswith("-gan")] \
      == ["1", "1", "1"]
  with pytest.raises(refine_config.ConfigError, match="^--retries=1000"):
    refine_config.RefineConfig(retries=1000).validate()


def test_checks_hard_labels_steps_and_grabcut():
  names = lambda config: [s.name for s in refine.plan(config)]
  # No check and no pick: no consistency stage at all.
  assert "refine1-gan-check" not in names(refine_config.RefineConfig(max_drop=None))
  # A pick without a check: consistency picks, with no baseline; a check without a result passes.
  stages = refine.plan(refine_config.RefineConfig(max_drop=None, pick_every=25))
  assert argvs(stages)[3] == check("refine1-gan", None, "--all_checkpoints")
  assert stages[4].flag("teacher_checkpoint") == "<picked by refine1-gan-check>"
  assert stages[2].flag("save_every") == "25" and stages[2].flag("max_to_keep") == "5"
  assert stages[5].flag("max_to_keep") == "1"  # 25 steps, saved every 25
  # Steps per cycle: the last count for the cycles after the list; hard labels from cycle 2.
  stages = refine.plan(refine_config.RefineConfig(refine_steps=(7, 5, 3), cycles=4, hard_from=2))
  gans = [s for s in stages if s.name.endswith("-gan")]
  assert [s.flag("steps") for s in gans] == ["7", "5", "3", "3"]
  hard = {s.name: s.flag("label_threshold") for s in stages if s.module == refine.DISTILL}
  assert hard == dict(student1=None, refine1=None, refine2="0.5", refine3="0.5", refine4="0.5")
  # No rounds: the first GAN run starts from the teacher; no cycles: the round's student is scored.
  stages = refine.plan(refine_config.RefineConfig(rounds=0))
  assert stages[1].flag("init_from") == f"{C}/teacher"
  assert [s.name for s in refine.plan(refine_config.RefineConfig(cycles=0))] == [
      "teacher", "student1", "score"]
  # GrabCut 0 (and the CRF on the crop alone): neither students nor the score get its flags.
  flat = " ".join(a for s in refine.plan(refine_config.RefineConfig(grabcut=0, crf_context=0))
                  for a in s.argv)
  assert "grabcut" not in flat and "raw_root" not in flat


def test_student_ema_decay_goes_to_every_student_and_only_to_them():
  stages = refine.plan(refine_config.RefineConfig(student_ema_decay=0.99, distill_args=("--x=1",)))
  students = [s for s in stages if s.module == refine.DISTILL]
  assert [s.name for s in students] == ["student1", "refine1", "refine2", "refine3"]
  for s in students:  # before distill_args, so that they can override it
    assert s.flag("ema_decay") == "0.99"
    assert s.argv.index("--ema_decay=0.99") < s.argv.index("--x=1")
  assert all(s.flag("ema_decay") is None for s in stages if s.module != refine.DISTILL)
  off = refine.plan(refine_config.RefineConfig(student_ema_decay=0))
  assert all(s.flag("ema_decay") is None for s in off)


def test_cub_and_paths():
  config = refine_config.for_dataset("cub", prep_dir="/p", runs="/r", seed=3).validate()
  stages = refine.plan(config)
  assert stages[0].flag("preset") == "cpu" and stages[0].flag("backgrounds") == "/p/cub_bg.npz"
  assert stages[0].flag("logdir") == "/r/cub-refine/teacher" and stages[0].flag("seed") == "3"
  assert stages[1].flag("backgrounds") == "/p/cub_bg.npz" and stages[1].flag("seed") == "3"
  assert stages[2].flag("seed") == "3001"  # the GAN runs' seeds: 1000 x --seed + 1, ...
  assert stages[-1].flag("split") == "all" and stages[-1].flag("raw_root") == "data/CUB_200_2011"
  with pytest.raises(refine_config.ConfigError, match="--dataset=celeba"):
    refine_config.for_dataset("celeba")


@pytest.mark.parametrize("change, flag", [
    (dict(pick_every=-1), "--pick_every=-1"), (dict(grabcut=-1), "--grabcut=-1"),
    (dict(retries=-2), "--retries=-2"), (dict(refine_steps=()), "--refine_steps"),
    (dict(refine_steps=(125, 0)), "--refine_steps=125,0"), (dict(cycles=1.5), "--cycles=1.5"),
    (dict(max_drop=float("nan")), "--max_drop=nan"), (dict(prepared=""), "--prepared"),
    (dict(fgseg_args="--jit=false"), "--fgseg_args"),
    (dict(student_ema_decay=1.0), "--student_ema_decay=1.0"),
    (dict(student_ema_decay=-0.5), "--student_ema_decay=-0.5")])
def test_validate_names_the_flag(change, flag):
  with pytest.raises(refine_config.ConfigError) as e:
    dataclasses.replace(refine_config.RefineConfig(), **change).validate()
  assert str(e.value).startswith(flag)


def test_executor_decides_retries_from_consistency_json(tmp_path):
  config = refine_config.RefineConfig(chain=str(tmp_path / "chain"), retries=1, cycles=2, pick_every=25)
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
  assert lines[-4].endswith(f"the chain ends with {tmp_path}/chain/refine1, and its result is the "
                            "ensemble of the last students")
  # The result carries the recipe it is scored with, written before the score runs.
  recipe = tmp_path / "chain" / "ensemble" / "postprocess.json"
  assert lines[-2] == (f"the result carries its recipe: wrote {recipe} "
                       f"({refine.score_recipe(config).describe()})")
  assert PostConfig(**json.load(open(recipe))) == refine.score_recipe(config)
  # A rerun starts again from the top: every entry point resumes its own run, the finished ones
  # return at once, and the checks decide as before.
  again = FakeRunner(drops=runner.drops)
  assert refine_run.run(config, again, log=lambda line: None) == result and again.ran == runner.ran


def test_executor_refuses_a_chain_whose_teacher_had_another_length(tmp_path):
  """A chain of the old 4000-step default, rerun with 6000: nothing runs, the teacher's
  checkpoints are left as they are, one error names the flag; with the old count, or a teacher
  alone, it runs."""
  config = refine_config.RefineConfig(chain=str(tmp_path), teacher_steps=6000)
  for stage, flags in (("teacher", dict(steps=4000)), ("student1", dict(steps=1000))):
    os.makedirs(tmp_path / stage)
    (tmp_path / stage / "flags.json").write_text(json.dumps(flags))
  runner = FakeRunner()
  with pytest.raises(refine_config.ConfigError, match=r"^--teacher_steps=6000: .* teacher was set to "
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
  config = refine_config.RefineConfig(chain=str(tmp_path))
  runner = FakeRunner(fail="refine1-gan")
  with pytest.raises(refine_run.StageError) as e:
    refine_run.run(config, runner, log=lambda line: None)
  assert e.value.returncode == 1 and e.value.stage.name == "refine1-gan"
  assert runner.ran == ["teacher", "student1", "refine1-gan"]


def fake_set(path, has_masks=True, pools=("_bg.npz",)):
  """A folder with a prepared set's meta.json (nothing else: the plan reads no more), and empty
  files for its pools <path><suffix>."""
  os.makedirs(path)
  with open(os.path.join(path, "meta.json"), "w") as f:
    json.dump(dict(format_version=1, size=16, count=2, has_masks=has_masks, source="folder:x"), f)
  for suffix in pools:
    open(str(path) + suffix, "w").close()
  return str(path)


@pytest.fixture
def sets(tmp_path, monkeypatch):
  """The working folder holds prepared/horse and prepared/cub, as after make horse-prep, cub-prep."""
  for name in ("horse", "cub"):
    fake_set(tmp_path / "prepared" / name, pools=("_bg.npz", "_bg_sharp.npz"))
  (tmp_path / "data" / "CUB_200_2011").mkdir(parents=True)  # cub's raw set, which refine checks
  monkeypatch.chdir(tmp_path)
  return tmp_path


def test_entry_point_flags_and_dry_run(capsys, sets):
  assert refine_main.main(["refine", "--dry_run"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines.pop(-2) == (f"# writes {C}/ensemble/postprocess.json: "
                           f"{refine.score_recipe(refine_config.RefineConfig()).describe()}")
  assert [l.split()[2:] for l in lines] == [[m, *a] for m, *a in argvs(refine.plan(
      refine_config.RefineConfig()))]
  args = ["refine", "--dataset=cub", f"--prep_dir={sets}/prepared", "--runs=/r", "--seed=2", "--max_drop=none",
          "--refine_steps=9,8", "--cycles=2", "--gan_args=--recolor=0.5 --jit=false",
          "--hard_args=", "--noflip_average_score", "--ensemble=2",
          "--student_ema_decay=0.9", "--grabcut_sure=0.1", "--guided_radius=3", "--crf_weight=2.5",
          "--floor_margin=0.05", "--floor_trust=-0.05", "--dry_run"]
  assert refine_main.main(args) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 9 and "consistency" not in " ".join(lines)
  assert lines[-3].endswith("--members=/r/cub-refine/refine1,/r/cub-refine/refine2 "
                            "--logdir=/r/cub-refine/ensemble --overwrite")
  assert lines[-2] == ("# writes /r/cub-refine/ensemble/postprocess.json: shift-averaged (4 px), "
                       "colour CRF w=2.5 on the photo (context 0.5), guided filter r=3, 3 GrabCut "
                       "iterations holding the pixels within 0.1 of 0 or 1, the floor: GrabCut from "
                       "the box alone unless the mask fits the colours better by 0.05 and agrees "
                       f"with it (IoU >= {floor.AGREEMENT:g}), on a set the network knows (median "
                       "fit gap >= -0.05) only where they disagree and the cut fits better, on grey "
                       "photos the network's mask")
  assert lines[2].endswith("--steps=9 --save_every=9 --seed=2001 --init_from=/r/cub-refine/student1 "
                           "--logdir=/r/cub-refine/refine1-gan --recolor=0.5 --jit=false")
  assert "label_threshold" not in lines[1] and "--flip_average" not in lines[-1].split()
  assert "--ema_decay=0.9" in lines[1].split() and "ema_decay" not in lines[0]


@pytest.mark.parametrize("flag, fragment", [
    ("--pick_every=-5", "--pick_every=-5"), ("--grabcut=three", "--grabcut"),
    ("--max_drop=lots", "--max_drop=lots"), ("--refine_steps=125,x", "--refine_steps=125,x"),
    ("--dataset=coins", "--dataset"), ("--bogus=1", "bogus"), ("--gan_args='--x", "--gan_args"),
    ("--ensemble=0", "--ensemble=0"), ("--grabcut_weight=1", "grabcut_weight"),
    ("--student_ema_decay=1", "--student_ema_decay=1"),
    ("--grabcut_sure=0.5", "--grabcut_sure=0.5"), ("--guided_radius=-2", "--guided_radius=-2"),
    ("--crf_weight=-1", "--crf_weight=-1")])
def test_bad_flags_are_one_error_line(flag, fragment, capsys):
  assert refine_main.main(["refine", flag, "--dry_run"]) == 2
  captured = capsys.readouterr()
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
  assert captured.out == ""


def test_entry_point_exits_with_a_failed_stage_status(monkeypatch, sets):
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


def test_the_subprocess_runner_runs_a_stage_as_python_dash_m_and_returns_its_status(tmp_path, sets):
  runner = refine_run.subprocess_runner(cwd=sets, env=entry.env())
  ok = refine.Stage("dry", "experiments.refine", ("--dry_run",), str(tmp_path))
  bad = refine.Stage("bad", "experiments.refine", ("--cycles=-1",), str(tmp_path))
  assert runner(ok) == 0 and runner(bad) == 2


def _config(module, cls, argv):
  """`module`'s config after parsing argv, its post-processing resolved (check_files' part)."""
  F = module.F
  F.values.unparse_flags()
  F.values([module.__name__, *argv])
  config = cls(**{f.name: F[f.name].value for f in dataclasses.fields(cls) if f.name in F.values},
               post_flags=cli.post_flags(F, PostConfig))
  config.validate()
  config.post, config.post_source = apply_config.resolve_post(config.postprocess, config.run_dir,
                                                              config.post_flags)
  return config


def test_postprocess_chain_and_a_runs_recipe_refine_masks_as_the_chains_score_does(tmp_path):
  from experiments import evaluate, segment  # pylint: disable=g-import-not-at-top
  config = refine_config.for_dataset("horse", prep_dir=P, runs="runs")
  score = refine.plan(config)[-1]
  run = str(tmp_path / "result")
  refine_run.postprocess.write_recipe(run, score.recipe)  # as the executor does before the score
  where = [f"--run_dir={run}", f"--prepared={P}/horse"]
  # The run's own recipe by default; every field of it, as the chain scored.
  as_scored = _config(evaluate, apply_config.EvalConfig, where)
  assert as_scored.post == refine.score_recipe(config) == BEST_RECIPE
  assert as_scored.post_source.startswith("the run's recipe (")
  assert _config(evaluate, apply_config.EvalConfig, [*where, "--postprocess=chain"]).post == (
      as_scored.post)
  assert _config(evaluate, apply_config.EvalConfig, [*where, "--postprocess=none"]).post == (
      PostConfig())
  # A run without one: the network's masks, as before.
  bare = str(tmp_path / "bare")
  assert _config(evaluate, apply_config.EvalConfig, [f"--run_dir={bare}", f"--prepared={P}"]).post \
      == PostConfig()
  # A flag given on the command line wins over the recipe; the rest is the recipe's.
  mine = _config(segment, apply_config.SegmentConfig,
                 [f"--run_dir={run}", "--images=x", "--out_dir=o", "--guided_radius=0",
                  "--grabcut_iters=1"])
  assert mine.post == dataclasses.replace(BEST_RECIPE, guided_radius=0, grabcut_iters=1)
  assert "--grabcut_iters=1 --guided_radius=0" in mine.post_source
  # A postprocess.json given by path, and bad ones.
  path = os.path.join(run, "postprocess.json")
  assert _config(segment, apply_config.SegmentConfig,
                 [f"--run_dir={run}", "--images=x", "--out_dir=o",
                  f"--postprocess={path}"]).post == BEST_RECIPE
  (tmp_path / "bad.json").write_text(json.dumps(dict(grabcut_band=0.1)))
  entry.call("experiments.segment", f"--run_dir={run}", "--images=x", "--out_dir=o",
             f"--postprocess={tmp_path / 'bad.json'}").failed(2, "bad.json", "grabcut_band")
  entry.call("experiments.segment", f"--run_dir={run}", "--images=x", "--out_dir=o",
             "--postprocess=best").failed(2, "--postprocess=best")


def test_a_prepared_set_alone_gives_every_path(tmp_path):
  """for_prepared (experiments.refine --prepared=... without --dataset): the pools beside the set,
  the chain named after it, the raw images from its meta.json, scored only when it has masks."""
  mine = fake_set(tmp_path / "p" / "mine", has_masks=False)
  runs = str(tmp_path / "r")
  config = refine_config.for_prepared(mine, runs).validate()
  assert (config.backgrounds, config.student_backgrounds) == (mine + "_bg.npz", mine + "_bg.npz")
  assert config.chain == f"{runs}/mine-refine" and config.raw_root is None
  assert (config.teacher_preset, config.score_split, config.score) == ("horse-cpu", "all", False)
  stages = refine.plan(config)
  assert [s.name for s in stages][-2:] == ["refine3", "ensemble"]  # no masks: nothing to score
  assert all(s.flag("raw_root") is None for s in stages)
  assert stages[0].flag("prepared") == mine and stages[0].flag("backgrounds") == mine + "_bg.npz"
  assert stages[0].flag("logdir") == f"{runs}/mine-refine/teacher"
  assert stages[1].flag("grabcut_iters") == "3"  # the students' GrabCut reads meta.json's photos
  # The same steps as the horses' chain, the paths apart.
  horse = refine.plan(refine_config.RefineConfig(score_split="all"))
  assert [s.name for s in stages] == [s.name for s in horse][:-1]
  # A sharp pool beside it goes to the students; masks: the score of every crop that has one.
  masked = fake_set(tmp_path / "p" / "masked", pools=("_bg.npz", "_bg_sharp.npz"))
  config = refine_config.for_prepared(masked + "/", runs, seed=2, chain="c")
  assert config.student_backgrounds == masked + "_bg_sharp.npz" and config.chain == "c"
  score = refine.plan(config)[-1]
  assert score.name == "score" and score.flag("split") == "all" and score.flag("prepared") == \
      masked + "/"
  with pytest.raises(refine_config.ConfigError, match=r"^--backgrounds: .*nopool_bg\.npz is missing"):
    refine_config.for_prepared(fake_set(tmp_path / "nopool", pools=()))
  assert refine_config.for_prepared(str(tmp_path / "nopool"), backgrounds="b.npz").backgrounds == "b.npz"
  with pytest.raises(refine_config.ConfigError, match=r"^--prepared=.*gone: no prepared set there"):
    refine_config.for_prepared(str(tmp_path / "gone"))


def test_entry_point_on_a_prepared_set(tmp_path, capsys):
  mine = fake_set(tmp_path / "mine")
  assert refine_main.main(["refine", f"--prepared={mine}", f"--runs={tmp_path}/r", "--seed=1",
                           "--dry_run"]) == 0
  lines = [l.split()[2:] for l in capsys.readouterr().out.splitlines() if not l.startswith("#")]
  assert lines == argvs(refine.plan(refine_config.for_prepared(mine, f"{tmp_path}/r", seed=1)))
  assert lines[0][:4] == ["experiments.fgseg", f"--prepared={mine}", "--split=all",
                          f"--backgrounds={mine}_bg.npz"]
  assert lines[-1][:4] == ["experiments.evaluate", f"--run_dir={tmp_path}/r/mine-refine/ensemble",
                           f"--prepared={mine}", "--split=all"]
  # A set that is not there: one line naming --prepared, nothing printed (a dry run too).
  for args in ([f"--prepared={tmp_path}/gone"], ["--dataset=horse", f"--prepared={tmp_path}/gone"],
               ["--dataset=cub", f"--prep_dir={tmp_path}/none"]):
    assert refine_main.main(["refine", *args, "--dry_run"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: --prepared=") and captured.out == "", captured
  assert refine_main.main(["refine", f"--prepared={mine}", "--prep_dir=x", "--dry_run"]) == 2
  assert capsys.readouterr().err.startswith("error: --prep_dir: only with --dataset")
  assert refine_main.main(["refine", f"--prepared={mine}", "--noscore", "--dry_run"]) == 0
  assert "experiments.evaluate" not in capsys.readouterr().out


def test_executor_on_a_set_without_masks_names_its_result(tmp_path):
  """No score stage: the result is the ensemble, named in <chain>/result.txt for make
  folder-segment; with every GAN run failing and no ensemble, the last student before them."""
  config = refine_config.for_prepared(fake_set(tmp_path / "mine", has_masks=False), str(tmp_path / "r"))
  runner = FakeRunner()
  result = refine_run.run(config, runner, log=lambda line: None)
  chain = tmp_path / "r" / "mine-refine"
  assert runner.ran[-1] == "ensemble" and result["scores"] is None
  assert result["result"] == str(chain / "ensemble") == refine_run.read_result(str(chain))
  assert (chain / "result.txt").read_text() == "ensemble\n"
  # Not scored, it carries the recipe all the same (make folder-segment applies it).
  assert refine_run.postprocess.run_recipe(result["result"]) == refine.score_recipe(config)
  lines = []
  alone = dataclasses.replace(config, ensemble=1, cycles=1, chain=str(tmp_path / "alone"))
  result = refine_run.run(alone, FakeRunner(drops={"refine1-gan-check": 0.5}), log=lines.append)
  assert result["result"] == str(tmp_path / "alone" / "student1")
  assert lines[-2].endswith(f"the chain ends with {tmp_path}/alone/student1")
  assert lines[-1].startswith(f"the result carries its recipe: wrote {tmp_path}/alone/student1/")
  assert refine_run.read_result(str(tmp_path / "alone")) == result["result"]
  assert refine_run.read_result(str(tmp_path / "none")) is None
  # No rounds: a chain whose only cycle fails ends with its teacher.
  bare = dataclasses.replace(alone, rounds=0, chain=str(tmp_path / "bare"))
  result = refine_run.run(bare, FakeRunner(drops={"refine1-gan-check": 0.5}), log=lines.append)
  assert result["result"] == str(tmp_path / "bare" / "teacher")


def test_no_default_path_points_outside_the_repository():
  """A default such as ../shared/data/... works only in the checkout it was written in."""
  paths = [v for v in dataclasses.asdict(refine_config.RefineConfig()).values() if isinstance(v, str)]
  paths += [v for d in refine_config.DATASETS.values() for v in dataclasses.asdict(d).values()
            if isinstance(v, str)]
  paths += [refine_main.F[n].default for n in refine_main.F.values
            if isinstance(refine_main.F[n].default, str)]
  assert paths and not [p for p in paths if p.startswith(("..", "/")) or "/../" in p], paths
