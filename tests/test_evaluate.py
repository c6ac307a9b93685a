"""Scoring a segmenter on a prepared set (ind_prior_tf/apply/evaluate.py, experiments.evaluate): the report
it returns and writes, the whole-box baseline, the checkpoint it reads, and one-line errors that write
nothing."""
import json
import os

import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.apply import evaluate as evaluation
from ind_prior_tf.apply import metrics
from ind_prior_tf.apply.config import EvalConfig
from ind_prior_tf.data import prepared, raw
from ind_prior_tf.runtime import training
from tests import entry
from tests.fgseg_fixtures import make_cub
from tests.run_fixtures import (
  make_generator_run,
  make_teacher_run,
  random_images,
  say_foreground_everywhere,
  write_prepared,
)

S = 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """A CUB-layout set of 8 images (4 train with masks) prepared at 64 px, and a teacher run whose
  ckpt-1 is random and ckpt-2 labels every pixel foreground."""
  tmp = tmp_path_factory.mktemp("evaluate")
  root = make_cub(str(tmp / "cub"), n=8)
  prep = str(tmp / "prep")
  prepared.prepare_set(raw.read_cub(root), prep, S, source=f"cub:{root}")
  run = str(tmp / "run")
  unet = make_teacher_run(run)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=say_foreground_everywhere(unet)).save(2)
  return dict(tmp=tmp, prep=prep, run=run)


def test_report_is_what_scores_json_holds_and_the_entry_point_prints(setup):
  out = str(setup["tmp"] / "eval")
  r = entry.call("experiments.evaluate", f"--run_dir={setup['run']}", f"--prepared={setup['prep']}",
                 "--split=train", f"--out_dir={out}", "--cases=2", "--batch_size=3",
                 f"--checkpoint={setup['run']}/ckpt/ckpt-1").ok()
  assert "on 4 masked crops" in r.out and "cases.png" in r.out and "(ckpt-1)" in r.out
  report = json.load(open(os.path.join(out, "scores.json")))
  for k in ("fg_iou", "miou", "pixel_acc", "whole_box_fg_iou"):
    assert 0.0 <= report[k] <= 1.0
  assert report["images"] == 4 and report["checkpoint"].endswith("ckpt-1")
  assert report["split"] == "train" and report["crop_size"] == S and report["model_size"] == S
  assert "network" not in report and report["flip_average"] is False
  picture = np.asarray(Image.open(os.path.join(out, "cases.png")))
  assert picture.shape[:2] == (2 * 68, 8 * 68)  # 2 rows of best | worst x 4
  rows = open(os.path.join(out, "per_image.csv")).read().splitlines()
  assert rows[0] == "id,fg_iou" and len(rows) == 5

  # The library returns the same report, and each crop's IoU that per_image.csv rounds.
  config = EvalConfig(run_dir=setup["run"], prepared=setup["prep"], split="train",
                      out_dir=str(setup["tmp"] / "eval2"), cases=0,
                      checkpoint=f"{setup['run']}/ckpt/ckpt-1")
  result = evaluation.evaluate(config)
  assert result.report == report and result.picture is None
  assert not os.path.exists(os.path.join(result.out_dir, "cases.png"))
  assert [f"{i},{v:.4f}" for i, v in zip(result.ids, result.ious)] == rows[1:]
  assert result.report["fg_iou"] == pytest.approx(result.ious.mean())
  assert evaluation.summary_lines(config, result)[0].startswith(f"{setup['run']} (ckpt-1) on 4")


def test_the_latest_checkpoint_and_the_whole_box_baseline(setup):
  """ckpt-2 draws the whole box: it scores the baseline, which is the masks' share of their crops."""
  result = evaluation.evaluate(EvalConfig(run_dir=setup["run"], prepared=setup["prep"],
                                          split="train", cases=1))
  report = result.report
  assert report["checkpoint"].endswith("ckpt-2")
  assert result.out_dir == os.path.join(setup["run"], "eval-train")
  gt = prepared.load_prepared_arrays(setup["prep"], "train", only_with_masks=True)["masks"]
  whole = metrics.per_image_fg_iou(np.ones_like(gt), gt).mean()
  assert report["whole_box_fg_iou"] == pytest.approx(whole)
  assert report["fg_iou"] == pytest.approx(whole)
  assert report["miou"] == pytest.approx(report["fg_iou_dataset"] / 2)  # no background predicted
  picture = np.asarray(Image.open(result.picture))
  assert picture.shape[:2] == (68, 8 * 68)
  # A mask of 1 everywhere stays 1 however the crop moves: the same scores, the shift reported.
  config = EvalConfig(run_dir=setup["run"], prepared=setup["prep"], split="train", cases=0,
                      post_flags=dict(shift_average=3)).validate().check_files()
  shifted = evaluation.evaluate(config)
  assert shifted.out_dir == os.path.join(setup["run"], "eval-train-shift3")
  assert shifted.report["postprocess"]["shift_average"] == 3 and "postprocess" not in report
  assert shifted.report["fg_iou"] == report["fg_iou"]
  assert "shift-averaged (3 px)" in evaluation.summary_lines(config, shifted)[0]


def test_bad_inputs_are_one_line_errors_and_write_nothing(setup):
  tmp = setup["tmp"]
  a_file = tmp / "a_file"
  a_file.write_text("x")
  hoc = str(tmp / "hoc")
  make_generator_run(hoc)
  write_prepared(tmp / "no_masks", random_images(2))
  out = tmp / "bad_out"
  base = [f"--run_dir={setup['run']}", f"--prepared={setup['prep']}", f"--out_dir={out}"]
  cases = [
      ([f"--out_dir={a_file}/x"], ("--out_dir", "not a directory")),
      (["--checkpoint=/nonexist/ckpt-1"], ("--checkpoint=/nonexist/ckpt-1",)),
      ([f"--run_dir={hoc}"], ("HOC run", "not a segmenter")),
      ([f"--run_dir={tmp}"], ("flags.json", "missing")),
      ([f"--prepared={tmp / 'no_masks'}"], ("has no masks",)),
      (["--split=test"], ("no masked crops",)),  # the test images of make_cub have no masks
      (["--split=val"], ("--split",)),
      (["--cases=-1"], ("--cases=-1",)),
      (["--batch_size=0"], ("--batch_size=0",)),
      (["--grabcut_iters=-1"], ("--grabcut_iters=-1",)),
      (["--grabcut_iters=1", "--grabcut_band=0.1"], ("grabcut_band",)),  # retired
      (["--postprocess=nothing.json"], ("--postprocess=nothing.json",)),
      (["--shift_average=-1"], ("--shift_average=-1",)), (["--shift_average=33"], ("[0, 32]",)),
      ([f"--raw_root={tmp / 'gone'}", "--grabcut_iters=1"], ("--raw_root", "gone")),
      (["stray"], ("stray",)),
  ]
  for extra, needles in cases:
    entry.call("experiments.evaluate", *base, *extra).failed(2, *needles)
    assert not os.path.exists(out), extra
  entry.call("experiments.evaluate", f"--prepared={setup['prep']}").failed(2, "--run_dir: required")
  assert not os.path.exists(os.path.join(hoc, "eval-all"))


@pytest.mark.parametrize("batch", [1, 2, 3, 10])
def test_cases_kept_while_streaming_are_those_a_sort_of_every_iou_picks(batch, tmp_path):
  """The best and worst crops, ties included (the later crop ranks first among the best, the
  earlier among the worst), whatever the batches, with each crop's own picture."""
  ious = np.array([0.5, 0.9, 0.1, 0.9, 0.5, 0.1, 0.7, 0.3, 0.9, 0.2])
  images = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones((10, 2, 2, 3), np.float32)
  masks = np.ones((10, 2, 2, 1), np.float32)
  cases = evaluation._Cases(3)
  for s in range(0, 10, batch):
    cases.add(images[s:s + batch], masks[s:s + batch], masks[s:s + batch], ious[s:s + batch])
  assert len(cases.rows) <= 6 + batch  # only the candidates are held
  assert cases.save(str(tmp_path / "c.png")) == str(tmp_path / "c.png")
  grid = np.asarray(Image.open(tmp_path / "c.png"))
  assert grid.shape[:2] == (3 * 6, 8 * 6)  # 3 rows of best | worst x 4 panels of 2 px + 4 px pad
  # The best are 8, 3, 1 (0.9 thrice, the latest first), the worst 2, 5 (0.1 twice, the earliest
  # first), then 9 (0.2); each kept row is its own crop's (its input holds the crop's index).
  assert evaluation._chosen(ious, 3).tolist() == [8, 3, 1, 2, 5, 9]
  for i in (8, 3, 1, 2, 5, 9):
    assert cases.rows[i][0, 0, 0, 0] == i
  assert evaluation._Cases(3).save(str(tmp_path / "none.png")) is None
