"""The mask-free flip-consistency check (experiments/consistency.py): its number is
distill_lib.flip_consistency's mean, and --max_drop turns a fall below a baseline into exit status 3."""
import json
import os

import numpy as np
import pytest

from ind_prior_tf.apply import consistency
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.distill import model as distill_lib
from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import training
from tests import entry
from tests.run_fixtures import make_teacher_run, random_images, say_foreground_everywhere, write_prepared


def run_entry(*args):
  return entry.call("experiments.consistency", *args)


def make_constant_run(run):
  """A run whose UNet says 'foreground' everywhere: masks equal under any flip (consistency 1)."""
  # Its checkpoint 1 holds a random UNet; checkpoint 2, the latest, the constant one.
  unet = say_foreground_everywhere(make_teacher_run(run, seed=1))
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=unet).save(2)
  return unet


def test_consistency_entry_point(tmp_path):
  images = random_images(6, seed=20)
  write_prepared(tmp_path / "prep", images)
  teacher = make_teacher_run(str(tmp_path / "random"))
  make_constant_run(str(tmp_path / "constant"))
  assert (segmenter.load_segmenter(str(tmp_path / "constant"))[0](images[:1] / 255.0).numpy()
          > 0.99).all()
  want = distill_lib.flip_consistency(teacher, images, distill_lib.teacher_labels(teacher, images))
  assert want.mean() < 0.99  # a random UNet's masks change with a flip
  prep = f"--prepared={tmp_path / 'prep'}"

  r = run_entry(f"--run_dir={tmp_path / 'random'}", prep).ok()
  assert f"mean flip consistency {want.mean():.3f} on 6 images" in r.out
  report = json.load(open(tmp_path / "random" / "consistency.json"))
  np.testing.assert_allclose(report["flip_consistency"], want.mean(), atol=1e-6)

  # Against a baseline of consistency 1: a drop of more than 0 is status 3, a drop within 1 is not.
  base = [f"--run_dir={tmp_path / 'random'}", prep, f"--baseline={tmp_path / 'constant'}"]
  r = run_entry(*base, "--max_drop=0")
  assert r.code == 3 and "(" in r.out and "1.000" in r.out, r.out + r.err[-2000:]
  assert "below the baseline by more than --max_drop=0.0" in r.out
  run_entry(*base, "--max_drop=1").ok()

  run_entry(f"--run_dir={tmp_path / 'nope'}", prep).failed(2, "nope")
  run_entry(f"--run_dir={tmp_path / 'random'}", prep, "--max_drop=0.1").failed(2, "--baseline")


def test_all_checkpoints_picks_the_most_consistent_one(tmp_path):
  images = random_images(6, seed=21)
  write_prepared(tmp_path / "prep", images)
  run = str(tmp_path / "run")
  make_constant_run(run)  # ckpt-1 random, ckpt-2 constant (consistency 1)
  make_constant_run(str(tmp_path / "constant"))
  random_unet = make_teacher_run(str(tmp_path / "other"), seed=2)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=random_unet).save(3)  # the latest
  want = [distill_lib.flip_consistency(u, images, distill_lib.teacher_labels(u, images)).mean()
          for u in (segmenter.load_segmenter(run, os.path.join(run, "ckpt", "ckpt-1"))[0],
                    random_unet)]
  assert max(want) < 0.99

  check = [f"--prepared={tmp_path / 'prep'}", f"--baseline={tmp_path / 'constant'}", "--max_drop=0"]
  r = run_entry(f"--run_dir={run}", "--all_checkpoints", *check).ok()  # the pick equals the baseline
  report = json.load(open(os.path.join(run, "consistency.json")))
  assert report["checkpoint"] == os.path.join(run, "ckpt", "ckpt-2")
  assert report["flip_consistency"] == 1.0
  np.testing.assert_allclose([c["flip_consistency"] for c in report["checkpoints"]],
                             [want[0], 1.0, want[1]], atol=1e-6)
  assert [os.path.basename(c["checkpoint"]) for c in report["checkpoints"]] == [
      "ckpt-1", "ckpt-2", "ckpt-3"]
  assert f"{run} (ckpt-2): mean flip consistency 1.000" in r.out
  assert "ckpt-1: mean flip consistency" in r.out.splitlines()[0]
  # Without --all_checkpoints the latest is the run's, and it falls below the baseline.
  assert run_entry(f"--run_dir={run}", *check).code == 3


def test_check_returns_the_report_it_writes(tmp_path):
  images = random_images(4, seed=22)
  write_prepared(tmp_path / "prep", images)
  run = str(tmp_path / "constant")
  make_constant_run(run)
  config = consistency.ConsistencyConfig(run_dir=run, prepared=str(tmp_path / "prep"),
                                         baseline=run, max_drop=0.0)
  found = consistency.check(config)
  assert found.report == json.load(open(os.path.join(run, "consistency.json")))
  assert list(found.report) == ["run_dir", "prepared", "split", "images", "checkpoint",
                                "flip_consistency", "baseline", "baseline_flip_consistency"]
  assert (found.report["flip_consistency"], found.report["baseline_flip_consistency"]) == (1.0, 1.0)
  assert found.report["checkpoint"] == os.path.join(run, "ckpt", "ckpt-2") and not found.dropped
  assert found.line == (f"{run} (ckpt-2): mean flip consistency 1.000 on 4 images ({run}: 1.000, "
                        "change +0.000)")
  # The pick: the most consistent, the latest of equals.
  assert consistency.pick([(0.5, "a"), (0.9, "b"), (0.9, "c"), (0.1, "d")]) == (0.9, "c")
  for bad, message in [(dict(run_dir=None), "--run_dir: required"),
                       (dict(max_drop=0.1, baseline=None), "--max_drop: needs --baseline"),
                       (dict(split="val"), "--split=val: expected one of")]:
    with pytest.raises(FlagError, match=message):
      consistency.ConsistencyConfig(**{**config.__dict__, **bad}).validate()
  with pytest.raises(FlagError, match="--baseline=.*gone: no flags.json"):
    consistency.ConsistencyConfig(**{**config.__dict__, "baseline": str(tmp_path / "gone")}
                                  ).check_files()
