"""Application 1 end to end through its entry points, as a user runs them: CUB- and CelebA-layout
fixtures -> data_prep -> experiments.fgseg (a few steps, resumed) -> experiments.evaluate. The entry
points run in this process (tests/entry.py); data_prep and the refinement chain as processes."""
import json
import os
import sys
import types

import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.fgseg import run as fgseg_run
from ind_prior_tf.fgseg.config import FgSegConfig
from ind_prior_tf.refine import run as refine_run
from tests import entry
from tests.fgseg_fixtures import TINY, make_celeba, make_cub, make_pool, prepare_cub

REPO = entry.ROOT


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("cub")
  root = make_cub(os.path.join(tmp, "CUB_200_2011"))
  prep = os.path.join(tmp, "prep")
  r = prepare_cub(root, prep).ok()
  assert "wrote 12 examples (8 train, 4 test, 8 with masks)" in r.out
  return dict(root=root, prep=prep, pool=make_pool(tmp), tmp=str(tmp))


def fgseg(*args):
  return entry.call("experiments.fgseg", *args)


def test_cub_prep_train_resume_evaluate(cub):
  logdir = os.path.join(cub["tmp"], "run")
  common = [f"--prepared={cub['prep']}", f"--backgrounds={cub['pool']}", f"--logdir={logdir}",
            *TINY, "--save_every=3", "--eval_every=3", "--log_every=1"]
  r = fgseg(*common, "--steps=3").ok()
  assert "step 3: checkpoint" in r.out and "fg IoU" in r.out
  # The header line says what is trained and where; run.json records the machine beside flags.json.
  header = [l for l in r.out.splitlines() if l.startswith("training tiny preset in ")]
  assert len(header) == 1 and " 3 steps on CPU (" in header[0] and header[0].endswith(
      ", float32, XLA"), r.out
  run_info = json.load(open(os.path.join(logdir, "run.json")))
  assert run_info["devices"] in header[0] and run_info["tensorflow"] and run_info["cpu_count"]
  flags_json = json.load(open(os.path.join(logdir, "flags.json")))
  assert (flags_json["image_size"], flags_json["width"], flags_json["upsample"]) == (64, 0.125,
                                                                                   "deconv")
  assert os.path.basename(open(os.path.join(logdir, "ckpt", "checkpoint")).readline().split('"')[1]) \
      == "ckpt-3"
  assert os.listdir(os.path.join(logdir, "tb"))
  preview = Image.open(os.path.join(logdir, "samples", "0000003.png"))  # input/mask/carved/composite
  assert preview.size[0] > preview.size[1] > 4 * 64

  # Resume: the same command with more steps continues from step 3 (and the XLA-free path works).
  r = fgseg(*common, "--steps=5", "--jit=false").ok()
  assert "resuming from step 3" in r.out and "step 5: checkpoint" in r.out
  assert " 5 steps on CPU (" in r.out and ", float32, no XLA\n" in r.out
  assert "ckpt-5" in open(os.path.join(logdir, "ckpt", "checkpoint")).readline()
  steps = [json.loads(l)["step"] for l in open(os.path.join(logdir, "metrics.jsonl"))
           if "d_loss" in l]
  assert steps == [1, 2, 3, 4, 5]

  # The same logdir with other flags is refused, in one line; --overwrite starts afresh.
  fgseg(*common, "--steps=5", "--area_target=0.4").failed(2, logdir, "area_target", "--overwrite")

  out_dir = os.path.join(cub["tmp"], "eval")
  r = entry.call("experiments.evaluate", f"--run_dir={logdir}", f"--prepared={cub['prep']}",
                 "--split=train", f"--out_dir={out_dir}", "--cases=2").ok()
  assert "on 8 masked crops" in r.out and "cases.png" in r.out
  scores = json.load(open(os.path.join(out_dir, "scores.json")))
  for k in ("fg_iou", "miou", "pixel_acc", "whole_box_fg_iou"):
    assert 0.0 <= scores[k] <= 1.0
  assert scores["images"] == 8 and scores["checkpoint"].endswith("ckpt-5")
  picture = np.asarray(Image.open(os.path.join(out_dir, "cases.png")))
  assert picture.shape[0] == 2 * 68 and picture.shape[1] == 8 * 68  # 2 rows of best | worst x 4
  assert len(open(os.path.join(out_dir, "per_image.csv")).readlines()) == 9


def test_celeba_prep_and_train_without_masks(tmp_path):
  root = make_celeba(tmp_path / "celeba")
  prep = tmp_path / "prep"
  r = entry.call("data_prep.celeba", f"--celeba_root={root}", f"--out_dir={prep}", "--size=64")
  assert "wrote 10 examples" in r.ok().out
  logdir = tmp_path / "run"
  r = fgseg(f"--prepared={prep}", f"--backgrounds={make_pool(tmp_path)}", f"--logdir={logdir}",
            *TINY, "--steps=2", "--eval_every=2", "--jit=false", "--in_memory=no").ok()
  assert "step 2: checkpoint" in r.out and "fg IoU" not in r.out  # nothing to score
  entry.call("experiments.evaluate", f"--run_dir={logdir}",
             f"--prepared={prep}").failed(2, "has no masks")


def test_run_returns_the_result_and_where_it_ran(cub, tmp_path):
  """fgseg_run.run, the library call behind the entry point: the result as a value, run.json written."""
  config = FgSegConfig.from_preset(
      "tiny", prepared=cub["prep"], backgrounds=cub["pool"], logdir=str(tmp_path / "run"),
      width=0.125, d_width=0.125, batch_size=4, steps=1, eval_every=1, eval_count=4, jit=False,
      progress=False).validate()
  lines = []
  result = fgseg_run.run(config, log=lines.append)
  assert (result["status"], result["step"]) == ("done", 1)
  assert result["checkpoint"].endswith("ckpt-1") and result["eval"]["images"] == 4
  assert result["devices"].startswith("on CPU (") and result["devices"].endswith("float32, no XLA")
  assert lines[0] == fgseg_run.header(config, result["devices"])
  assert json.load(open(tmp_path / "run" / "run.json"))["devices"] == result["devices"]
  assert json.load(open(tmp_path / "run" / "flags.json")) == json.loads(json.dumps(
      dict(config.flags_json(), application="fgseg")))


def test_bad_inputs_are_one_line_errors_and_write_nothing(cub, tmp_path):
  root = make_cub(tmp_path / "cub")
  os.remove(os.path.join(root, "bounding_boxes.txt"))
  prepare_cub(root, tmp_path / "prep").failed(2, os.path.join(root, "bounding_boxes.txt"), "missing")

  logdir = tmp_path / "run"
  base = [f"--prepared={cub['prep']}", f"--backgrounds={cub['pool']}", f"--logdir={logdir}", *TINY]
  other = tmp_path / "wide"  # a run whose UNet is not this run's
  other.mkdir()
  (other / "flags.json").write_text('{"image_size": 64, "width": 1.0, "upsample": "deconv"}')
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(b"not a zip file")
  for extra, fragments in [([f"--prepared={tmp_path}"], ["meta.json"]),
                           ([f"--backgrounds={tmp_path / 'nope.npz'}"], ["nope.npz"]),
                           (["--image_size=96"], ["multiple of 64"]),
                           (["--area_target=1.5"], ["--area_target"]),
                           (["--area_floor=1"], ["--area_floor=1.0"]),
                           (["--removal_lambda=-1"], ["--removal_lambda"]),
                           (["--smooth_lambda=-1"], ["--smooth_lambda"]),
                           (["--eval_count=0"], ["--eval_count"]),
                           ([f"--init_from={tmp_path}"], ["flags.json"]),
                           ([f"--init_from={other}"], ["--init_from"]),
                           (["--preset=huge"], ["--preset=huge"]),
                           (["--unknown_flag=1"], ["unknown_flag"]),
                           # The data is checked before the run directory is made: nothing written.
                           ([f"--backgrounds={corrupt}"], [str(corrupt), "corrupt patch pool"]),
                           (["--batch_size=16"], ["fewer than one batch of 16", "--batch_size"]),
                           # A run directory that cannot be made is one line naming it.
                           (["--logdir=/etc/passwd/x"], ["--logdir=/etc/passwd/x", "/etc/passwd"]),
                           (["--logdir=/proc/nope"], ["--logdir=/proc/nope", "/proc/nope"])]:
    fgseg(*base, *extra).failed(2, *fragments)
    assert not os.path.exists(logdir), extra
  entry.call("experiments.evaluate", f"--run_dir={tmp_path}",
             f"--prepared={cub['prep']}").failed(2, "flags.json")


def in_process_stage(stage):
  """A refine stage run by its entry point's main() in this process, its output passed on."""
  r = entry.call(stage.module, *stage.argv)
  print(r.out, end="", flush=True)
  print(r.err, end="", file=sys.stderr, flush=True)
  return r.code


def test_refine_chain_wires_teacher_students_and_refinement(cub, tmp_path, monkeypatch):
  """make horse-refine's pipeline (experiments.refine) at toy sizes through the real entry points:
  every stage is its own run, each learns from the one before, the refinement GAN starts from the
  latest student and is checked, the students from cycle --hard_from on get the hard labels, and the
  mean of the last three students (an ensemble) is scored; with --pick_every=1 each student learns from the GAN checkpoint
  experiments.consistency picked, and with --grabcut=1 every student's labels are refined by GrabCut
  on the raw images and the ensemble is scored after it as well, fused and flip-averaged. Run again with a
  check every GAN run fails (--max_drop=-1) and no picking: the finished stages resume as they are, the
  failed run is retried with the next seed (--retries=1), then the cycles end and the last student
  before them (alone: there is no other) is scored. tests/test_refine.py checks the plan itself, stage by stage."""
  prep_dir = tmp_path / "prepared"
  prep_dir.mkdir()
  os.symlink(cub["prep"], prep_dir / "horse")
  for name in ("horse_bg.npz", "horse_bg_sharp.npz"):
    os.symlink(cub["pool"], prep_dir / name)
  chain = tmp_path / "chain"
  args = [f"--prep_dir={prep_dir}", f"--chain={chain}", "--image_size=64", "--teacher_steps=3",
          "--student_steps=2", "--rounds=1", "--refine_steps=2,1", "--cycles=2", "--hard_from=2",
          "--retries=1", "--max_drop=1", "--pick_every=1", "--gan_args=--recolor=0.5",
          "--grabcut=1", f"--raw_root={cub['root']}",
          "--fgseg_args=--width=0.125 --d_width=0.125 --batch_size=4 --progress=false "
          "--save_every=3 --eval_every=0 --jit=false",
          "--distill_args=--batch_size=4 --progress=false --eval_every=0 --jit=false"]
  # The stages run in this process (the entry points' main(), one TensorFlow import for all);
  # tests/test_refine.py runs a real subprocess stage through refine_run.subprocess_runner.
  monkeypatch.setattr(refine_run, "subprocess_runner", lambda *a, **k: in_process_stage)

  def refine(*more):
    r = entry.call("experiments.refine", *args, *more)
    return types.SimpleNamespace(returncode=r.code, stdout=r.out, stderr=r.err)
  p = refine()
  assert p.returncode == 0, p.stderr[-3000:]
  flags = lambda run: json.load(open(chain / run / "flags.json"))
  step = lambda run: open(chain / run / "ckpt" / "checkpoint").readline().split('"')[1]
  assert step("teacher") == "ckpt-3" and flags("teacher")["image_size"] == 64
  assert f"[teacher] {sys.executable} -m experiments.fgseg --prepared={prep_dir}/horse" in p.stdout
  assert flags("teacher")["recolor"] == 0 and flags("refine1-gan")["recolor"] == 0.5
  assert flags("student1")["teacher"] == str(chain / "teacher")
  assert not os.path.exists(chain / "student2")
  assert flags("refine1-gan")["init_from"] == str(chain / "student1")
  assert "UNet initialised from " + str(chain / "student1") in p.stdout
  assert step("refine1-gan") == "ckpt-2" and flags("refine1-gan")["seed"] == 1
  assert p.stdout.count("): mean flip consistency") == 2  # one check per cycle, both passed
  picked = lambda run: json.load(open(chain / run / "consistency.json"))
  assert [os.path.basename(c["checkpoint"]) for c in picked("refine1-gan")["checkpoints"]] == [
      "ckpt-1", "ckpt-2"]  # --pick_every=1: every step of the GAN run saved and scored
  assert flags("refine1")["teacher_checkpoint"] == picked("refine1-gan")["checkpoint"]
  assert flags("refine2")["teacher_checkpoint"] == str(chain / "refine2-gan" / "ckpt" / "ckpt-1")
  assert not os.path.exists(chain / "refine1-gan-seed2")
  assert flags("refine1")["teacher"] == str(chain / "refine1-gan") and step("refine1") == "ckpt-2"
  assert flags("refine1")["label_threshold"] is None and flags("refine1")["recolor"] == 0
  assert flags("refine2-gan")["init_from"] == str(chain / "refine1")
  assert step("refine2-gan") == "ckpt-1"  # --refine_steps=2,1: one count per cycle
  assert flags("refine2")["teacher"] == str(chain / "refine2-gan")
  assert flags("refine2")["label_threshold"] == 0.5 and flags("refine2")["recolor"] == 0.5
  assert flags("student1")["label_threshold"] is None and flags("student1")["recolor"] == 0
  assert {flags(s)["flip_average_labels"] for s in ("student1", "refine1", "refine2")} == {True}
  assert {flags(s)["ema_decay"] for s in ("student1", "refine1", "refine2")} == {0.99}
  assert not os.path.exists(chain / "refine3")
  assert flags("ensemble")["members"] == ["../student1", "../refine1", "../refine2"]
  assert (f"{chain / 'ensemble'} (the mean of 3 runs; flip-averaged, shift-averaged (4 px), colour "
          "CRF w=5 on the photo (context 0.5), guided filter r=4, 1 GrabCut iterations holding the "
          "pixels within 0.05 of 0 or 1, the floor: GrabCut from the box alone unless the mask fits "
          "the colours better by 0.02 and agrees with it (IoU >= 0.4), on a set the network knows "
          "(median fit gap >= 0.02) only where they disagree and the cut fits better, on grey photos "
          "the network's mask) on 8 masked crops") in p.stdout
  scores = json.load(open(chain / "score" / "scores.json"))
  recipe = json.load(open(chain / "ensemble" / "postprocess.json"))
  assert scores["postprocess"] == recipe and scores["flip_average"] is True
  assert recipe["grabcut_sure"] == 0.05 and recipe["guided_radius"] == 4
  assert recipe["crf_weight"] == 5 and recipe["grabcut_iters"] == 1 and recipe["grabcut_floor"]
  assert scores["postprocess_source"].startswith("the run's recipe")
  assert scores["checkpoint"].endswith(str(chain / "refine2" / "ckpt" / "ckpt-2"))
  assert p.stdout.strip().splitlines()[-1] == (
      f"the chain's result: {chain / 'ensemble'}: fg IoU {scores['fg_iou']:.3f}, mIoU "
      f"{scores['miou']:.3f}")
  assert p.stdout.count("labels refined by GrabCut (1 iterations)") == 3
  assert {flags(s)["grabcut_iters"] for s in ("student1", "refine1", "refine2")} == {1}
  assert ("the network alone (flip-averaged, shift-averaged (4 px)), before the steps after it: "
          "fg IoU") in p.stdout

  # The finished stages are resumed as they are; now every check fails.
  p = refine("--cycles=1", "--max_drop=-1", "--pick_every=0", "--noflip_average_score")
  assert p.returncode == 0, p.stderr[-3000:]
  assert f"{chain / 'teacher'} is already at step 3 of 3" in p.stdout
  assert p.stdout.count("below the baseline by more than --max_drop=-1.0") == 2
  assert flags("refine1-gan-seed2")["seed"] == 2 and step("refine1-gan-seed2") == "ckpt-2"
  assert flags("refine1-gan-seed2")["init_from"] == str(chain / "student1")
  assert "checkpoints" not in picked("refine1-gan-seed2")  # only the last one, checked
  assert not os.path.exists(chain / "refine1-gan-seed3")  # --retries=1: one rerun at most
  assert "; running refine1-gan-seed2 instead" in p.stdout
  assert f"the chain ends with {chain / 'student1'}" in p.stdout
  assert flags("refine1")["teacher"] == str(chain / "refine1-gan")  # no student from a failed run
  assert (f"{chain / 'student1'} (ckpt-2; shift-averaged (4 px), colour CRF w=5 on the photo "
          "(context 0.5), guided filter r=4, 1 GrabCut iterations holding the pixels within 0.05 "
          "of 0 or 1, the floor: GrabCut from the box alone unless the mask fits the colours better "
          "by 0.02 and agrees with it (IoU >= 0.4), on a set the network knows (median fit gap >= "
          "0.02) only where they disagree and the cut fits better, on grey photos the network's "
          "mask) on 8 masked crops") in p.stdout
  # The score's recipe went into the result it scored, and only there.
  assert json.load(open(chain / "student1" / "postprocess.json"))["flip_average"] is False
