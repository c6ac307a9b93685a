"""Data distillation: the composites carry the teacher's mask, the label is the teacher's prediction
(flipped with its input), training lowers the loss, resumes, and the student's run directory loads like
a teacher's. Eq. 8 itself is tested in test_losses.py."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.core import augment, networks
from ind_prior_tf.data import pools
from ind_prior_tf.distill import model as distill_lib
from ind_prior_tf.distill import run as distill_run
from ind_prior_tf.distill.config import DistillConfig
from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import training
from tests import entry
from tests.run_fixtures import (
  check_one_moving_average_step,
  make_teacher_run,
  ramp_model,
  random_images,
  say_foreground_everywhere,
  write_prepared,
)

S = 64


def config(**kw):
  return DistillConfig(**{**dict(image_size=S, width=0.125, batch_size=4), **kw})


def flipped(x):
  return x[:, :, ::-1]


def test_composites_carry_the_teachers_mask_and_labels_flip_with_them():
  images = random_images(16)
  x = images / 255.0
  # Asymmetric binary masks (a flip is visible), soft ones at a seam column.
  masks = np.zeros([16, S, S, 1], np.float32)
  masks[:, 8:40, 4:30] = 1.0
  masks[:, 8:40, 30] = 0.5
  colour = np.array([0.2, 0.6, 0.9], np.float32)
  pool = np.broadcast_to(colour, [1, S + 8, S + 8, 3]).copy()  # same background whatever the crop
  d = distill_lib.Distiller(config(flip=True, seed=3))
  inputs, labels = [t.numpy() for t in d.make_batch(tf.constant(x, tf.float32), masks, pool)]
  expected = x * masks + colour * (1 - masks)
  n_flipped = 0
  for i in range(16):
    is_flipped = not np.allclose(labels[i], masks[i])
    n_flipped += is_flipped
    want_x = flipped(expected)[i] if is_flipped else expected[i]
    want_m = flipped(masks)[i] if is_flipped else masks[i]
    np.testing.assert_allclose(labels[i], want_m, atol=0)
    np.testing.assert_allclose(inputs[i], want_x, atol=1e-6)
    # Where the label is 1 the input is the source image, where it is 0 the background.
    src = flipped(x)[i] if is_flipped else x[i]
    on, off = want_m[..., 0] == 1, want_m[..., 0] == 0
    np.testing.assert_allclose(inputs[i][on], src[on], atol=1e-6)
    np.testing.assert_allclose(inputs[i][off], np.broadcast_to(colour, inputs[i][off].shape),
                               atol=1e-6)
  assert 0 < n_flipped < 16  # both cases were drawn


def test_label_is_the_teachers_soft_prediction_of_the_source_image():
  teacher = networks.unet(S, 0.125)
  images = random_images(4, seed=1)
  labels_u8 = distill_lib.teacher_labels(teacher, images)
  predicted = teacher(images / 255.0, training=False).numpy()
  assert labels_u8.dtype == np.uint8 and labels_u8.shape == (4, S, S, 1)
  np.testing.assert_allclose(labels_u8 / 255.0, predicted, atol=0.5 / 255 + 1e-6)
  # Not flipped: the label is exactly the (quantised) prediction, the composite is carved by it.
  d = distill_lib.Distiller(config(flip=False), teacher)
  pool = random_images(3, S + 16, seed=2)
  inputs, labels = d.make_batch(images, labels_u8, pool)
  m = labels_u8 / 255.0
  np.testing.assert_allclose(labels.numpy(), m, atol=1e-7)
  bg = (inputs.numpy() - images / 255.0 * m) / np.maximum(1 - m, 1e-3)
  assert np.all(bg[(m[..., 0] < 0.5)] > -1e-3) and np.all(bg[(m[..., 0] < 0.5)] < 1 + 1e-3)
  # Thresholded labels carve and label with the same binary mask.
  d = distill_lib.Distiller(config(flip=False, label_threshold=0.5), teacher)
  _, labels = d.make_batch(images, labels_u8, pool)
  np.testing.assert_array_equal(labels.numpy(), (m > 0.5).astype(np.float32))


def test_teacher_labels_at_another_size():
  teacher = networks.unet(S, 0.125)
  images = random_images(3, size=2 * S, seed=4)  # prepared at 128, teacher at 64, student at 128
  labels = distill_lib.teacher_labels(teacher, images, out_size=2 * S)
  assert labels.shape == (3, 2 * S, 2 * S, 1)
  small = segmenter.resize(images / 255.0, S)
  want = segmenter.resize(teacher(small, training=False), 2 * S).numpy()
  np.testing.assert_allclose(labels / 255.0, want, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("ours", [{}, dict(real_fraction=0.5, real_ignore_band=2, jit=False)])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(ours):
  teacher = networks.unet(S, 0.125)
  images = random_images(4, seed=5)
  masks = np.zeros([4, S, S, 1], np.uint8)
  masks[:, 16:48, 12:44] = 255  # a clear target
  pool = random_images(1, S, seed=6)
  d = distill_lib.Distiller(config(flip=False, lr=5e-3, **ours), teacher)  # XLA unless ours say
  x, m, p = tf.constant(images), tf.constant(masks), tf.constant(pool)
  loss = [float(d.train_step(x, m, p)["loss"]) for _ in range(15)]
  assert np.isfinite(loss).all()
  assert np.mean(loss[-3:]) < 0.7 * np.mean(loss[:3]), loss


def fixtures(tmp_path, n=12):
  teacher = make_teacher_run(str(tmp_path / "teacher"))
  images = random_images(n, seed=7)
  masks = distill_lib.teacher_labels(teacher, images)
  pool = random_images(5, S + 8, seed=8)
  return teacher, images, masks, pool


def test_train_resumes_with_step_weights_and_optimizer_state(tmp_path):
  teacher, images, masks, pool = fixtures(tmp_path)
  logdir = str(tmp_path / "student")
  d = distill_lib.Distiller(config(jit=False), teacher)
  gt = (masks[:4] > 127).astype(np.float32)
  out = distill_lib.train(d, images, masks, pool, logdir, steps=3, log_every=1, save_every=2,
                          eval_every=3, eval_data=(images[:4], gt, masks[:4]), progress=False,
                          log=lambda *_: None)
  assert out["status"] == "done" and out["step"] == 3 and np.isfinite(out["losses"]["loss"])
  assert 0 <= out["eval"]["fg_iou"] <= 1 and 0 <= out["eval"]["iou_vs_teacher"] <= 1
  assert out["checkpoint"].endswith("ckpt-3")
  assert os.listdir(os.path.join(logdir, "samples")) == ["0000003.png"]
  assert os.listdir(os.path.join(logdir, "tb"))
  lines = [json.loads(l) for l in open(os.path.join(logdir, "metrics.jsonl"))]
  assert lines[0]["teacher"]["fg_iou"] == 1.0  # the teacher against its own thresholded masks
  assert [l["step"] for l in lines if "loss" in l] == [1, 2, 3]
  weights = [w.numpy() for w in d.student.weights]
  rng_state = d.rng.state.numpy()

  d2 = distill_lib.Distiller(config(jit=False), teacher)
  keeper = training.CheckpointKeeper(os.path.join(logdir, "ckpt"), **d2.checkpoint_objects())
  assert keeper.restore() == 3
  for a, b in zip(weights, d2.student.weights):
    np.testing.assert_array_equal(a, b.numpy())
  assert int(d2.opt.iterations.numpy()) == 3
  np.testing.assert_array_equal(d2.rng.state.numpy(), rng_state)

  d3 = distill_lib.Distiller(config(jit=False), teacher)
  out = distill_lib.train(d3, images, masks, pool, logdir, steps=5, save_every=100, progress=False,
                          log=lambda *_: None)
  assert out["step"] == 5
  assert int(d3.opt.iterations.numpy()) == 5  # 3 restored + 2 new
  assert tf.train.latest_checkpoint(os.path.join(logdir, "ckpt")).endswith("ckpt-5")


def test_ema_student_is_the_moving_average_is_scored_and_saved_as_unet(tmp_path):
  teacher, images, masks, pool = fixtures(tmp_path, n=4)
  d = distill_lib.Distiller(config(ema_decay=0.75, jit=False), teacher)
  w0 = [w.numpy() for w in d.student.weights]
  for e, w in zip(d.student_ema.weights, w0):
    np.testing.assert_array_equal(e.numpy(), w)  # starts at the trained student's initial weights
  d.train_step(tf.constant(images), tf.constant(masks), tf.constant(pool))
  w1 = [w.numpy() for w in d.student.weights]
  check_one_moving_average_step(d.student_ema, w0, w1, 0.75)
  scored = d.predict_masks(images).numpy()  # what evaluation scores
  np.testing.assert_allclose(scored, d.student_ema(images / 255.0, training=False), atol=1e-6)
  assert np.abs(scored - d.student(images / 255.0, training=False)).max() > 1e-4
  # `unet` is the average (what evaluate, segment and the next stages load), `unet_train` the
  # trained student (what a resumed run trains on).
  keeper = training.CheckpointKeeper(str(tmp_path / "ckpt"), **d.checkpoint_objects())
  keeper.save(1)
  (tmp_path / "flags.json").write_text(json.dumps(dict(image_size=S, width=0.125,
                                                       upsample="deconv")))
  unet, _, _ = segmenter.load_segmenter(str(tmp_path))
  for a, b in zip(unet.weights, d.student_ema.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  resumed = distill_lib.Distiller(config(ema_decay=0.75, jit=False), teacher)
  training.CheckpointKeeper(str(tmp_path / "ckpt"), **resumed.checkpoint_objects()).restore()
  for a, b in zip(resumed.student.weights, w1):
    np.testing.assert_array_equal(a.numpy(), b)


def test_train_refuses_backgrounds_smaller_than_the_student(tmp_path):
  teacher, images, masks, _ = fixtures(tmp_path, n=4)
  d = distill_lib.Distiller(config(jit=False), teacher)
  with pytest.raises(ValueError, match="smaller than"):
    distill_lib.train(d, images, masks, random_images(2, S // 2), str(tmp_path / "s"), steps=1)


def test_bad_config_is_a_one_line_error():
  for bad, word in [(dict(image_size=100), "image_size"), (dict(lr=0.0), "lr"),
                    (dict(label_threshold=1.5), "label_threshold"), (dict(upsample="x"), "upsample"),
                    (dict(label_keep=0.0), "label_keep"), (dict(label_keep=1.5), "label_keep"),
                    (dict(lr_decay="step"), "lr_decay"), (dict(ema_decay=1.0), "ema_decay"),
                    (dict(ema_decay=-0.1), "ema_decay")]:
    with pytest.raises(ValueError, match=f"--{word}="):
      distill_lib.Distiller(config(**bad))


def run_config(tmp_path, **kw):
  """A validated-to-be DistillConfig of the entry point's shape: inputs, logdir, tiny run."""
  return DistillConfig(**{**dict(
      teacher=str(tmp_path / "teacher"), prepared=str(tmp_path / "prep"),
      backgrounds=str(tmp_path / "bg.npz"), logdir=str(tmp_path / "student"), image_size=None,
      width=None, upsample=None, batch_size=2, steps=2, jit=False, progress=False), **kw})


def test_config_checks_name_the_flag_before_anything_is_read(tmp_path):
  good = run_config(tmp_path)
  for bad, message in [
      (dict(teacher=None), "--teacher: required"), (dict(logdir=""), "--logdir: required"),
      (dict(eval_every=-1), "--eval_every=-1: must be >= 0"),
      (dict(eval_count=0), "--eval_count=0: must be >= 1"),
      (dict(steps=0), "--steps=0: must be >= 1"), (dict(width=0.0), "--width=0.0: must be > 0"),
      (dict(grabcut_iters=-1), "--grabcut_iters=-1: must be >= 0"),
      (dict(beta1=1.0), "--beta1=1.0, beta2=0.999: must be in [0, 1)"),
      (dict(recolor=2.0), "--recolor=2.0: must be in [0, 1]"),
      (dict(split="val"), "--split=val: expected one of"),
      (dict(mixed_precision="float8"), "--mixed_precision=float8: expected one of")]:
    with pytest.raises(FlagError, match="^" + re.escape(message)):
      DistillConfig(**{**good.__dict__, **bad}).validate()
  good.validate()  # None for the student's architecture: the teacher's
  assert good.with_teacher(128, 0.5, "resize").__dict__ == {
      **good.__dict__, "image_size": 128, "width": 0.5, "upsample": "resize"}
  with pytest.raises(FlagError, match="^--teacher=.*: no such run directory"):
    good.check_files()


def test_logdir_may_not_be_inside_or_hold_a_run_the_command_reads(tmp_path):
  teacher = tmp_path / "teacher"
  os.makedirs(teacher / "ckpt")
  make_inputs(tmp_path)
  for logdir in (teacher, teacher / "student", tmp_path):
    with pytest.raises(FlagError, match=f"^--logdir={logdir}: is, holds or lies inside"):
      run_config(tmp_path, logdir=str(logdir)).validate().check_files()
  other = tmp_path / "other"
  os.makedirs(other / "ckpt")
  open(other / "ckpt" / "ckpt-1.index", "w").close()
  with pytest.raises(FlagError, match="--teacher_checkpoint reads"):
    run_config(tmp_path, logdir=str(other), teacher_checkpoint=str(other / "ckpt" / "ckpt-1"),
               ).check_files()
  run_config(tmp_path, logdir=str(tmp_path / "sibling")).check_files()


def make_inputs(tmp_path, n=6, seed=9):
  """A prepared set of n random images (prep/) and a background pool (bg.npz) in tmp_path."""
  write_prepared(tmp_path / "prep", random_images(n, seed=seed))
  pools.save_pool(str(tmp_path / "bg.npz"), random_images(4, S, seed=seed + 1))


def test_entry_point_writes_a_student_that_loads_like_a_teacher(tmp_path):
  make_teacher_run(str(tmp_path / "teacher"))
  make_inputs(tmp_path)
  common = [f"--teacher={tmp_path / 'teacher'}", f"--prepared={tmp_path / 'prep'}",
            f"--backgrounds={tmp_path / 'bg.npz'}", f"--logdir={tmp_path / 'student'}",
            "--batch_size=2", "--nojit", "--noprogress", "--width=0.0625", "--eval_every=0"]
  r = entry.call("experiments.distill", *common, "--steps=2").ok()
  unet, cfg, ckpt = segmenter.load_segmenter(str(tmp_path / "student"))
  assert (cfg["image_size"], cfg["width"], cfg["upsample"]) == (S, 0.0625, "deconv")
  assert ckpt.endswith("ckpt-2") and unet.output_shape == (None, S, S, 1)
  # The header line says where the student trains; run.json beside flags.json records it.
  header = [l for l in r.out.splitlines() if l.startswith("student: UNet")]
  assert len(header) == 1 and header[0].endswith(", float32, no XLA"), header
  assert " on CPU (" in header[0] or " on GPU" in header[0], header
  run_json = json.load(open(tmp_path / "student" / "run.json"))
  assert run_json["devices"] in header[0] and run_json["tensorflow"] == tf.__version__
  saved = json.load(open(tmp_path / "student" / "flags.json"))
  assert saved["application"] == "distill" and saved["teacher"] == str(tmp_path / "teacher")
  assert (saved["preset"], saved["batch_size"], saved["lr"], saved["beta1"]) == ("cpu", 2, 1e-3, 0.9)
  assert "overwrite" not in saved and "progress" not in saved
  # A rerun of the finished run says so and stops before the teacher labels anything.
  r = entry.call("experiments.distill", *common, "--steps=2").ok()
  assert "is already at step 2 of 2" in r.out and "labelling" not in r.out
  assert f"step 2: checkpoint {ckpt}" in r.out
  # Reusing the run directory with other flags is refused in one line; a missing file too.
  entry.call("experiments.distill", *common, "--steps=2", "--lr=0.1").failed(2, "--overwrite")
  entry.call("experiments.distill", *common[:1], f"--prepared={tmp_path / 'nope'}",
             *common[2:]).failed(2, "nope")
  # The student may not overwrite its teacher: refused before anything is touched.
  teacher_files = {n: os.path.getmtime(tmp_path / "teacher" / n) for n in ("flags.json", "ckpt")}
  entry.call("experiments.distill", *common[:3], f"--logdir={tmp_path / 'teacher'}", *common[4:],
             "--steps=1", "--overwrite").failed(2, f"--logdir={tmp_path / 'teacher'}")
  assert {n: os.path.getmtime(tmp_path / "teacher" / n) for n in teacher_files} == teacher_files
  assert os.path.isfile(tmp_path / "teacher" / "ckpt" / "ckpt-1.index")
  assert json.load(open(tmp_path / "teacher" / "flags.json")) == dict(
      image_size=S, width=0.125, upsample="deconv")
  r = entry.call("experiments.distill", *common[:3], f"--logdir={tmp_path / 'kept'}", *common[4:],
                 "--steps=1", "--label_keep=0.5").ok()
  assert "keeping the labels of 3 of 6 images" in r.out
  assert json.load(open(tmp_path / "kept" / "flags.json"))["label_keep"] == 0.5


def test_distill_returns_what_it_did(tmp_path):
  make_teacher_run(str(tmp_path / "teacher"))
  make_inputs(tmp_path, n=4)
  said = []
  c = run_config(tmp_path, steps=1, eval_every=0, label_keep=0.5)
  result = distill_run.distill(c, log=said.append)
  assert (result["status"], result["step"], result["finished_before"]) == ("done", 1, False)
  assert result["kept"] == 2 and 0 <= result["label_area"] <= 1 and result["eval"] == {}
  assert result["devices"].startswith("on ") and said[-1].endswith(result["devices"])
  assert distill_run.summary(result) == ""
  again = distill_run.distill(c, log=said.append)
  assert again["finished_before"] and again["checkpoint"] == result["checkpoint"]
  assert said[-1] == f"{c.logdir} is already at step 1 of 1; raise --steps to train on"
  assert distill_run.summary(dict(eval=dict(fg_iou=0.5, miou=0.25, images=3))) == (
      "; fg IoU 0.500, mIoU 0.250 on 3 masked crops")


def test_paper_preset_is_the_papers_optimiser_and_ours_stay_ours(tmp_path):
  from experiments import distill  # pylint: disable=g-import-not-at-top
  base = ["x", "--teacher=t", "--prepared=p", "--backgrounds=b", "--logdir=l"]
  for preset, want in (("paper", (4e-4, 0.5, 0.999, 16, 20000)),
                       ("cpu", (1e-3, 0.9, 0.999, 32, 4000)), ("tiny", (1e-3, 0.9, 0.999, 8, 50))):
    distill.F.values.unparse_flags()
    distill.F.values([*base, f"--preset={preset}"])
    c = distill.config_of(distill.F)
    assert (c.lr, c.beta1, c.beta2, c.batch_size, c.steps) == want, preset
  distill.F.values.unparse_flags()
  distill.F.values([*base, "--preset=paper", "--lr=1e-3", "--beta1=0.9"])  # a given flag wins
  assert (distill.config_of(distill.F).lr, distill.config_of(distill.F).beta1) == (1e-3, 0.9)
  distill.F.values.unparse_flags()


def test_teacher_checkpoint_picks_an_older_checkpoint_of_the_teacher(tmp_path):
  teacher = str(tmp_path / "teacher")
  first = make_teacher_run(teacher)  # ckpt-1: a random UNet
  images = random_images(6, seed=11)
  want_area = distill_lib.teacher_labels(first, images).mean() / 255.0
  constant = say_foreground_everywhere(networks.unet(S, 0.125))
  training.CheckpointKeeper(os.path.join(teacher, "ckpt"), unet=constant).save(2)  # the latest
  write_prepared(tmp_path / "prep", images)
  pools.save_pool(str(tmp_path / "bg.npz"), random_images(4, S, seed=12))
  common = [f"--teacher={teacher}", f"--prepared={tmp_path / 'prep'}",
            f"--backgrounds={tmp_path / 'bg.npz'}", f"--logdir={tmp_path / 'student'}",
            "--batch_size=2", "--nojit", "--noprogress", "--steps=1", "--eval_every=0"]
  ckpt1 = os.path.join(teacher, "ckpt", "ckpt-1")
  r = entry.call("experiments.distill", *common, f"--teacher_checkpoint={ckpt1}").ok()
  assert f"teacher {ckpt1} " in r.out and f"mask area {want_area:.3f}" in r.out
  assert abs(want_area - 0.99) > 0.05  # the latest checkpoint would label nearly everything
  assert json.load(open(tmp_path / "student" / "flags.json"))["teacher_checkpoint"] == ckpt1
  entry.call("experiments.distill", *common, f"--teacher_checkpoint={teacher}/ckpt/ckpt-7").failed(
      2, "ckpt-7")


def test_real_fraction_feeds_real_images_with_the_teachers_mask():
  images = random_images(16, seed=11)
  masks = np.zeros([16, S, S, 1], np.uint8)
  masks[:, 10:50, 5:35] = 255
  pool = np.zeros([1, S, S, 3], np.uint8)  # black backgrounds: composites differ from the images
  d = distill_lib.Distiller(config(flip=False, real_fraction=0.5, seed=1))
  inputs, labels = [t.numpy() for t in d.make_batch(images, masks, pool)]
  real = [np.allclose(inputs[i], images[i] / 255.0, atol=1e-6) for i in range(16)]
  composite = [np.allclose(inputs[i], images[i] / 255.0 * (masks[i] / 255.0), atol=1e-6)
               for i in range(16)]
  assert all(r != c for r, c in zip(real, composite)) and 0 < sum(real) < 16
  np.testing.assert_array_equal(labels, masks / 255.0)


def test_real_ignore_band_leaves_the_real_samples_label_edge_out_of_the_loss():
  labels = np.zeros([2, 8, 8, 1], np.float32)
  labels[:, 2:6, 2:6] = 1.0  # a 4x4 square in each sample
  real = tf.constant([True, False])
  assert distill_lib.Distiller(config()).loss_weights(labels, real) is None  # off by default
  w = distill_lib.Distiller(config(real_ignore_band=1)).loss_weights(labels, real).numpy()
  np.testing.assert_array_equal(w[1], 1.0)  # a composite: its label is exact, every pixel counts
  # The real sample: 0 from the square's dilation (rows and columns 1-6) to its erosion (3-4).
  want = np.ones([8, 8], np.float32)
  want[1:7, 1:7] = 0.0
  want[3:5, 3:5] = 1.0
  np.testing.assert_array_equal(w[0, ..., 0], want)
  with pytest.raises(ValueError, match="--real_ignore_band=-1"):
    distill_lib.Distiller(config(real_ignore_band=-1))


def test_recolor_known_values():
  x = tf.constant([[[[0.6, 0.3, 0.0]]]] * 3)  # grey level 0.3
  tint = tf.constant([[1.0, 1.0], [0.0, 1.0], [0.5, 2.0]])
  out = augment.recolor(x, tint).numpy()[:, 0, 0]
  np.testing.assert_allclose(out[0], [0.6, 0.3, 0.0], atol=1e-6)  # (1, 1): unchanged
  np.testing.assert_allclose(out[1], [0.3, 0.3, 0.3], atol=1e-6)  # s = 0: its grey level
  np.testing.assert_allclose(out[2], [0.45 ** 2, 0.3 ** 2, 0.15 ** 2], atol=1e-6)


def test_recolor_changes_the_pasted_foreground_only_and_keeps_the_labels():
  images = random_images(32, seed=12)
  masks = np.zeros([32, S, S, 1], np.uint8)
  masks[:, 10:50, 5:35] = 255
  pool = random_images(1, seed=13)
  plain = distill_lib.Distiller(config(flip=False, seed=2))
  tinted = distill_lib.Distiller(config(flip=False, recolor=0.5, seed=2))
  drawn = tinted.draw(32, tf.constant(pool))
  tint = drawn[3].numpy()
  changed = (tint != 1).any(axis=1)
  assert 0 < changed.sum() < 32 and (tint[changed, 0] <= 1).all()
  assert (tint[changed, 1] >= 0.25).all() and (tint[changed, 1] <= 2).all()
  inputs, labels = [t.numpy() for t in tinted.compose(images, masks, *drawn)]
  expected, same_labels = [t.numpy() for t in plain.compose(images, masks, *drawn[:3])]
  np.testing.assert_array_equal(labels, same_labels)
  fg = masks[0, ..., 0] > 0  # the same box in every image
  bg = ~fg
  np.testing.assert_allclose(inputs[:, bg], expected[:, bg], atol=1e-6)  # backgrounds untouched
  np.testing.assert_allclose(inputs[~changed][:, fg], expected[~changed][:, fg], atol=1e-6)
  diff = np.abs(inputs - expected)[:, fg].mean(axis=(1, 2))
  assert (diff[changed] > 1e-3).all()
  recolored = augment.recolor(images[changed] / np.float32(255), tint[changed]).numpy()
  np.testing.assert_allclose(inputs[changed][:, fg], recolored[:, fg], atol=1e-5)


def left_of_column_teacher(column):
  """A stand-in teacher: foreground where the red channel is above 0.5 and left of `column`, so its
  masks of mirrored images are known by hand."""
  x = tf.keras.Input((S, S, 3))
  left = tf.cast(tf.range(S) < column, tf.float32)[None, None, :, None]
  m = tf.keras.layers.Lambda(lambda t: tf.cast(t[..., :1] > 0.5, tf.float32) * left)(x)
  return tf.keras.Model(x, m)


def test_flip_consistency_known_values():
  teacher = left_of_column_teacher(3 * S // 4)
  images = np.zeros([3, S, S, 3], np.uint8)
  images[0, ..., 0] = 255             # all red: mask = columns < 3S/4, mirrored: >= S/4 -> IoU 1/2
  images[2, :, :S // 4, 0] = 255      # red on the left quarter only: mirrored, its mask is empty
  masks = distill_lib.teacher_labels(teacher, images)  # image 1 is black: empty both ways -> 1
  np.testing.assert_allclose(distill_lib.flip_consistency(teacher, images, masks), [0.5, 1.0, 0.0])


def test_most_consistent_keeps_the_top_fraction_in_order():
  scores = [0.5, 0.9, 0.1, 0.9, 0.7]
  np.testing.assert_array_equal(distill_lib.most_consistent(scores, 0.6), [1, 3, 4])
  np.testing.assert_array_equal(distill_lib.most_consistent(scores, 1.0), [0, 1, 2, 3, 4])
  np.testing.assert_array_equal(distill_lib.most_consistent(scores, 0.01), [1])  # at least one


def test_cosine_decay_halves_the_learning_rate_midway_and_ends_at_zero():
  images, masks = random_images(2, seed=14), np.full([2, S, S, 1], 255, np.uint8)
  pool = tf.constant(random_images(1, seed=15))
  d = distill_lib.Distiller(config(jit=False, lr=1e-2, steps=4, lr_decay="cosine"))
  rates = []
  for _ in range(4):
    rates.append(float(d.opt.learning_rate))
    d.train_step(tf.constant(images), tf.constant(masks), pool)
  rates.append(float(d.opt.learning_rate))
  # lr (1 + cos(pi t / T)) / 2 at t = 0..4 of T = 4
  np.testing.assert_allclose(rates, [1e-2, 1e-2 * (1 + np.sqrt(0.5)) / 2, 5e-3,
                                     1e-2 * (1 - np.sqrt(0.5)) / 2, 0.0], atol=1e-7)
  assert float(distill_lib.Distiller(config(jit=False, lr=1e-2)).opt.learning_rate) == np.float32(1e-2)


def test_flip_averaged_labels_are_the_mean_of_the_mask_and_its_mirrors():
  images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
  teacher = ramp_model(8)
  plain = distill_lib.teacher_labels(teacher, images)
  np.testing.assert_array_equal(plain[1, 4, :, 0], np.round(np.linspace(0, 255, 8)))
  # The ramp and its mirror sum to 1: every averaged label is 127.5, stored as 128.
  np.testing.assert_array_equal(distill_lib.teacher_labels(teacher, images, flip_average=True), 128)
  averaged = distill_lib.teacher_labels(teacher, images, out_size=16, flip_average=True)
  assert averaged.shape == (3, 16, 16, 1) and (np.abs(averaged.astype(int) - 128) <= 1).all()
