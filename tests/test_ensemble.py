"""Ensembles of segmenters (ind_prior_tf/apply/ensemble.py, experiments.ensemble): the chain's result and
its score."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply import ensemble, export
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.errors import FlagError, RunError
from ind_prior_tf.fgseg import run as fgseg_run
from ind_prior_tf.runtime import training
from tests import entry
from tests.run_fixtures import make_generator_run, make_teacher_run, prepared_cub, trained_looking


def two_students(tmp_path):
  """Two trained-looking runs of different weights: (run dirs, their UNets)."""
  runs, unets = [], []
  for i in range(2):
    run = str(tmp_path / "chain" / f"refine{i + 1}")
    unet = make_teacher_run(run, seed=i)
    trained_looking(unet, seed=i)
    training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=unet).save(2)
    runs.append(run)
    unets.append(unet)
  return runs, unets


def test_write_keeps_members_relative_and_refuses_what_it_must(tmp_path):
  runs, _ = two_students(tmp_path)
  out = str(tmp_path / "chain" / "ensemble")
  assert ensemble.write(out, runs) == "written"
  config = json.load(open(os.path.join(out, "flags.json")))
  assert config == dict(application="ensemble", members=["../refine1", "../refine2"],
                        image_size=64, width=0.125, upsample="deconv")
  assert ensemble.member_paths(out, config) == runs
  assert ensemble.write(out, runs) == "unchanged"
  with pytest.raises(FlagError, match=r"^--logdir=.*another ensemble"):
    ensemble.write(out, runs[:1])
  assert json.load(open(os.path.join(out, "flags.json"))) == config  # untouched
  assert ensemble.write(out, runs[:1], overwrite=True) == "written"
  with pytest.raises(FlagError, match=r"^--logdir=.*holds a training run"):
    ensemble.write(runs[0], runs[1:], overwrite=True)
  other = str(tmp_path / "small")
  make_teacher_run(other, size=128)
  make_generator_run(str(tmp_path / "hoc"))
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "flags.json").write_text("{}")
  for members, message in [([*runs, other], "different input sizes (64, 128 px)"),
                           ([runs[0], str(tmp_path / "hoc")], "a HOC run"),
                           ([runs[0], str(tmp_path / "gone")], "missing"),
                           ([runs[0], str(tmp_path / "empty")], "no checkpoint"),
                           ([runs[0], out], "an ensemble"), ([runs[0], runs[0]], "twice"),
                           ([], "required")]:
    with pytest.raises(FlagError, match=re.escape(message)) as e:
      ensemble.write(str(tmp_path / "new"), members)
    assert str(e.value).startswith("--members")
  assert not os.path.exists(tmp_path / "new")


def test_an_ensemble_loads_as_the_mean_of_its_members(tmp_path):
  runs, unets = two_students(tmp_path)
  out = str(tmp_path / "chain" / "ensemble")
  ensemble.write(out, runs)
  model, config, ckpt = segmenter.load_run_segmenter(out)
  assert config["application"] == "ensemble" and model.input_shape == (None, 64, 64, 3)
  assert ckpt == " + ".join(os.path.join(r, "ckpt", "ckpt-2") for r in runs)
  x = np.random.RandomState(3).uniform(size=(2, 64, 64, 3)).astype(np.float32)
  one, two = (u(x, training=False).numpy() for u in unets)
  assert np.abs(one - two).max() > 0.01  # the members differ
  np.testing.assert_allclose(model(x, training=False).numpy(), (one + two) / 2, atol=1e-6)
  with pytest.raises(RunError, match="takes no checkpoint"):
    segmenter.load_run_segmenter(out, checkpoint=os.path.join(runs[0], "ckpt", "ckpt-2"))
  # It is a segmenter to the programs that apply one, but no start for a GAN run.
  assert apply_config.newest_segmenter_run(str(tmp_path / "chain")) == out
  with pytest.raises(FlagError, match="^--init_from=.*an ensemble"):
    fgseg_run.warm_start_checkpoint(out, None)
  # Exported, it serves the mean.
  kind, _, saved, _, _ = export.export_run(out, str(tmp_path / "export"))
  served = tf.saved_model.load(saved).signatures["serving_default"](images=tf.constant(x))
  assert kind == "segmenter"
  np.testing.assert_allclose(served["mask"].numpy(), (one + two) / 2, atol=1e-6)
  os.rename(runs[1], runs[1] + "-moved")
  with pytest.raises(RunError, match="member .*refine2 is missing"):
    segmenter.load_run_segmenter(out)


def test_entry_point_and_scoring_an_ensemble(tmp_path):
  runs, _ = two_students(tmp_path)
  out = tmp_path / "chain" / "ensemble"
  r = entry.call("experiments.ensemble", f"--members={','.join(runs)}", f"--logdir={out}").ok()
  assert r.out.strip() == f"ensemble of 2 runs in {out}"
  again = entry.call("experiments.ensemble", f"--members={','.join(runs)}", f"--logdir={out}").ok()
  assert again.out.strip().endswith("(already there)")
  entry.call("experiments.ensemble", f"--members={runs[0]}", f"--logdir={out}").failed(
      2, "--logdir=", "another ensemble", "--overwrite")
  entry.call("experiments.ensemble", f"--logdir={out}").failed(2, "--members: required")
  _, prep = prepared_cub(tmp_path, n=6)
  r = entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}",
                 "--split=train").ok()
  report = json.load(open(out / "eval-train" / "scores.json"))
  assert report["checkpoint"].count(" + ") == 1 and report["images"] == 2
  assert r.out.splitlines()[1].startswith(f"{out} (the mean of 2 runs) on 2 masked crops")
  r = entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}", "--split=train",
                 "--grabcut_iters=1").ok()
  cut = json.load(open(out / "eval-train-gc1" / "scores.json"))
  assert cut["network"]["fg_iou"] == report["fg_iou"]
  entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}",
             "--grabcut_iters=1", "--grabcut_weight=0.5").failed(2, "grabcut_weight")
