"""Ensembles of segmenters (ind_prior_tf/ensemble.py, experiments.ensemble) and GrabCut's cut fused
with the network's mask (grabcut.fuse, --grabcut_weight): the chain's result and its score."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf import apply_config, ensemble, export, fgseg_run, grabcut, segmenter, training
from ind_prior_tf.errors import FlagError, RunError
from tests import entry
from tests.test_distill import make_teacher_run
from tests.test_export import make_generator_run, trained_looking


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


def test_fuse_keeps_the_cut_except_where_the_network_is_sure():
  cut = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0], np.float32)
  net = np.array([0.95, 0.90, 0.05, 0.10, 0.60, 0.40], np.float32)
  np.testing.assert_array_equal(grabcut.fuse(cut, net, 1.0), cut)
  fused = grabcut.fuse(cut, net, 0.45)
  np.testing.assert_allclose(fused, 0.45 * cut + 0.55 * net, atol=1e-7)
  # Thresholded at 0.5: the network overrules the cut above 0.5 / 0.55 = 0.909 and below 0.091.
  np.testing.assert_array_equal(fused > 0.5, [True, False, False, True, False, True])
  np.testing.assert_array_equal(grabcut.fuse(cut, net, 0.0), net)


def test_refine_mask_with_a_weight_is_the_cut_fused_with_the_mask():
  pytest.importorskip("cv2")
  from tests.fgseg_fixtures import object_image  # pylint: disable=g-import-not-at-top
  from tests.test_grabcut import S, crop_of  # pylint: disable=g-import-not-at-top
  image, mask, box = object_image(np.random.default_rng(0), 120, 100)
  region, _, truth = crop_of(image, mask, box)
  soft = np.clip(truth * 0.8 + 0.1, 0, 1).astype(np.float32)
  soft[6:-6, 6:10] = 0.99  # a strip the network is sure of, outside the object
  cut = grabcut.refine_mask(image, region, soft, iterations=3)
  fused = grabcut.refine_mask(image, region, soft, iterations=3, weight=0.45)
  np.testing.assert_allclose(fused, grabcut.fuse(cut, soft, 0.45), atol=1e-6)
  strip = np.zeros((S, S), bool)
  strip[6:-6, 6:10] = True
  strip &= truth < 0.5
  assert strip.any() and (cut[strip] < 0.5).mean() > 0.9  # GrabCut drops the strip ...
  assert (fused[strip] > 0.5).all()  # ... the sure network keeps it


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
  kind, _, saved, _ = export.export_run(out, str(tmp_path / "export"))
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
  from tests.test_grabcut import prepared_cub  # pylint: disable=g-import-not-at-top
  _, prep = prepared_cub(tmp_path, n=6)
  r = entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}",
                 "--split=train").ok()
  report = json.load(open(out / "eval-train" / "scores.json"))
  assert report["checkpoint"].count(" + ") == 1 and report["images"] == 2
  assert r.out.startswith(f"{out} (the mean of 2 runs) on 2 masked crops")
  r = entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}", "--split=train",
                 "--grabcut_iters=1", "--grabcut_weight=0.45").ok()
  assert "fused with the network's mask at weight 0.45" in r.out
  fused = json.load(open(out / "eval-train-grabcut" / "scores.json"))
  assert fused["grabcut_weight"] == 0.45 and fused["network"]["fg_iou"] == report["fg_iou"]
  entry.call("experiments.evaluate", f"--run_dir={out}", f"--prepared={prep}",
             "--grabcut_iters=1", "--grabcut_weight=1.2").failed(2, "--grabcut_weight=1.2")
