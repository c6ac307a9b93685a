"""The training loop of Application 1 (fgseg_lib.train), in process: checkpoints, NaN guard, Ctrl-C,
and that it learns on a trivially separable set."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.apply import metrics
from ind_prior_tf.fgseg import gan as fgseg_lib
from ind_prior_tf.runtime import training
from tests.run_fixtures import TINY_GAN, green_pool, separable_set

TINY = TINY_GAN
LOGIC = dict(TINY, jit=False)  # tests of the loop's logic: no XLA compile, seconds less


def batches(images, batch_size, seed=0):
  ds = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed).repeat()
  return ds.batch(batch_size, drop_remainder=True)


def latest_step(logdir):
  return int(tf.train.latest_checkpoint(os.path.join(logdir, "ckpt")).rsplit("-", 1)[1])


def test_resume_continues_from_saved_step(tmp_path):
  images, masks = separable_set(8)
  cfg = fgseg_lib.FgSegConfig(**LOGIC)
  logdir = str(tmp_path / "run")
  r = fgseg_lib.train(cfg, batches(images, 4), green_pool(), logdir, 3, eval_data=(images, masks),
                      log_every=1, save_every=2, eval_every=3, progress=False)
  assert r["step"] == 3 and r["status"] == "done" and latest_step(logdir) == 3
  assert set(r["eval"]) >= {"fg_iou", "miou", "pixel_acc", "mask_area"}
  r = fgseg_lib.train(cfg, batches(images, 4), green_pool(), logdir, 5, log_every=1, save_every=10,
                      eval_every=0, progress=False)
  assert r["step"] == 5 and latest_step(logdir) == 5
  lines = [json.loads(l) for l in open(os.path.join(logdir, "metrics.jsonl"))]
  assert [l["step"] for l in lines if "d_loss" in l] == [1, 2, 3, 4, 5]
  assert [l["step"] for l in lines if "eval" in l] == [3]
  # A finished run is not trained further.
  r = fgseg_lib.train(cfg, batches(images, 4), green_pool(), logdir, 5, progress=False,
                      log=lambda m: None)
  assert r["step"] == 5 and latest_step(logdir) == 5


def test_init_unet_starts_a_fresh_run_from_another_runs_unet_but_not_a_resumed_one(tmp_path):
  images, _ = separable_set(8)
  source = str(tmp_path / "source")
  fgseg_lib.train(fgseg_lib.FgSegConfig(**LOGIC, seed=1), batches(images, 4), green_pool(), source,
                  2, log_every=1, save_every=2, eval_every=0, progress=False, log=lambda m: None)
  ckpt = tf.train.latest_checkpoint(os.path.join(source, "ckpt"))
  want = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(**LOGIC))
  tf.train.Checkpoint(unet=want.unet).restore(ckpt).expect_partial()

  # The moving average starts from the loaded weights too.
  gan = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(**LOGIC, seed=2, ema_decay=0.9))
  assert not np.allclose(gan.unet.weights[0].numpy(), want.unet.weights[0].numpy())
  gan.warm_start(ckpt)
  for model in (gan.unet, gan.unet_ema):
    for a, b in zip(model.weights, want.unet.weights):
      np.testing.assert_array_equal(a.numpy(), b.numpy())

  logs, logdir = [], str(tmp_path / "run")
  for steps in (1, 2):  # fresh, then resumed: only the fresh run loads the source
    fgseg_lib.train(fgseg_lib.FgSegConfig(**LOGIC, seed=2), batches(images, 4), green_pool(),
                    logdir, steps, log_every=1, save_every=1, eval_every=0, progress=False,
                    init_unet=ckpt, log=logs.append)
  assert [m for m in logs if "initialised" in m] == [f"UNet initialised from {ckpt}"]
  assert any(m.startswith("resuming from step 1") for m in logs)


def test_nan_stops_naming_step_and_loss_and_keeps_last_checkpoint(tmp_path, monkeypatch):
  real_step = fgseg_lib.FgSegGAN.train_step
  calls = []

  def poisoned(self, images, pool):
    out = real_step(self, images, pool)
    calls.append(1)
    if len(calls) >= 5:  # from step 5 on, the generator's loss is NaN
      out = dict(out, g_loss=tf.constant(float("nan")))
    return out

  monkeypatch.setattr(fgseg_lib.FgSegGAN, "train_step", poisoned)
  images, _ = separable_set(8)
  logdir = str(tmp_path / "run")
  with pytest.raises(training.NonFiniteLossError, match=r"step 5: loss g_loss is nan.*ckpt-4"):
    fgseg_lib.train(fgseg_lib.FgSegConfig(**LOGIC), batches(images, 4), green_pool(), logdir, 20,
                    log_every=10, save_every=2, eval_every=0, progress=False)
  assert latest_step(logdir) == 4  # nothing saved after the NaN


def test_ctrl_c_saves_the_last_finished_step(tmp_path, monkeypatch):
  real_step = fgseg_lib.FgSegGAN.train_step
  calls = []

  def interrupted(self, images, pool):
    calls.append(1)
    if len(calls) == 4:
      raise KeyboardInterrupt
    return real_step(self, images, pool)

  monkeypatch.setattr(fgseg_lib.FgSegGAN, "train_step", interrupted)
  images, _ = separable_set(8)
  logdir = str(tmp_path / "run")
  r = fgseg_lib.train(fgseg_lib.FgSegConfig(**LOGIC), batches(images, 4), green_pool(), logdir, 20,
                      log_every=10, save_every=10, eval_every=0, progress=False)
  assert r["status"] == "interrupted" and r["step"] == 3 and latest_step(logdir) == 3


@pytest.mark.slow
def test_learns_a_separable_set_beyond_the_whole_box(tmp_path):
  """600 steps: the masks of red discs on green noise beat the whole-box baseline (0.395) clearly.
  Seeds 0-5 reach 0.70-0.79 fg IoU against the bar of 0.595; at 300 steps they spread over 0.48-0.68,
  so a bar there would pass or fail by seed."""
  keras.utils.set_random_seed(0)
  images, masks = separable_set(64)
  cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.25, d_width=0.25, batch_size=16,
                              area_form="batch_squared", area_target=float(masks.mean()),
                              upsample="deconv")
  logdir = str(tmp_path / "run")
  r = fgseg_lib.train(cfg, batches(images, 16), green_pool(), logdir, 600, eval_data=(images, masks),
                      log_every=50, save_every=600, eval_every=600, progress=False)
  box = metrics.segmentation_scores(np.ones_like(masks), masks)["fg_iou"]
  assert r["eval"]["fg_iou"] > box + 0.2, (r["eval"], box)
