"""The mask-free flip-consistency check (experiments/consistency.py): its number is
distill_lib.flip_consistency's mean, and --max_drop turns a fall below a baseline into exit status 3."""
import json
import os
import subprocess
import sys

import numpy as np

from ind_prior_tf import distill_lib, segmenter, training
from tests.test_distill import (make_teacher_run, random_images, say_foreground_everywhere,
                                 write_prepared)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_entry(*args):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "experiments.consistency", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


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

  r = run_entry(f"--run_dir={tmp_path / 'random'}", prep)
  assert r.returncode == 0, r.stderr[-2000:]
  assert f"mean flip consistency {want.mean():.3f} on 6 images" in r.stdout
  report = json.load(open(tmp_path / "random" / "consistency.json"))
  np.testing.assert_allclose(report["flip_consistency"], want.mean(), atol=1e-6)

  # Against a baseline of consistency 1: a drop of more than 0 is status 3, a drop within 1 is not.
  base = [f"--run_dir={tmp_path / 'random'}", prep, f"--baseline={tmp_path / 'constant'}"]
  r = run_entry(*base, "--max_drop=0")
  assert r.returncode == 3 and "(" in r.stdout and "1.000" in r.stdout, r.stdout + r.stderr[-2000:]
  assert run_entry(*base, "--max_drop=1").returncode == 0

  r = run_entry(f"--run_dir={tmp_path / 'nope'}", prep)
  assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr
  r = run_entry(f"--run_dir={tmp_path / 'random'}", prep, "--max_drop=0.1")
  assert r.returncode == 2 and "--baseline" in r.stderr


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
  r = run_entry(f"--run_dir={run}", "--all_checkpoints", *check)
  assert r.returncode == 0, r.stdout + r.stderr[-2000:]  # the picked one is the baseline's equal
  report = json.load(open(os.path.join(run, "consistency.json")))
  assert report["checkpoint"] == os.path.join(run, "ckpt", "ckpt-2")
  assert report["flip_consistency"] == 1.0
  np.testing.assert_allclose([c["flip_consistency"] for c in report["checkpoints"]],
                             [want[0], 1.0, want[1]], atol=1e-6)
  assert [os.path.basename(c["checkpoint"]) for c in report["checkpoints"]] == [
      "ckpt-1", "ckpt-2", "ckpt-3"]
  assert f"{run} (ckpt-2): mean flip consistency 1.000" in r.stdout
  # Without --all_checkpoints the latest is the run's, and it falls below the baseline.
  r = run_entry(f"--run_dir={run}", *check)
  assert r.returncode == 3, r.stdout + r.stderr[-2000:]
