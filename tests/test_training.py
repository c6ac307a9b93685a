import json
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.runtime import rundir, training
from tests.run_fixtures import check_one_moving_average_step


def test_prepare_logdir_refuses_other_flags_but_reads_missing_keys_as_defaults(tmp_path):
  logdir = str(tmp_path / "run")
  rundir.prepare_logdir(logdir, dict(lr=0.1, steps=10))  # a run from before `ema` existed
  # The newer version writes ema=0.0: the same experiment, so it resumes...
  rundir.prepare_logdir(logdir, dict(lr=0.1, steps=10, ema=0.0), defaults=dict(ema=0.0))
  assert json.load(open(tmp_path / "run" / "flags.json"))["ema"] == 0.0
  # ...while a missing key without a default, or a changed value, is refused in one line.
  with pytest.raises(training.RunError, match=r"other flags \(decay: None -> 0.5\)"):
    rundir.prepare_logdir(logdir, dict(lr=0.1, steps=10, ema=0.0, decay=0.5),
                            defaults=dict(ema=0.0))
  with pytest.raises(training.RunError, match="lr: 0.1 -> 0.2"):
    rundir.prepare_logdir(logdir, dict(lr=0.2, steps=10, ema=0.0), defaults=dict(lr=0.2))


def counting_loop(logdir, steps):
  """A TrainLoop over one variable, the 'weights', that each step adds 1 to."""
  w = tf.Variable(0.0)
  loop = training.TrainLoop(str(logdir), steps, dict(w=w), log_every=2, save_every=3, progress=False)

  def step(s, fail_at=None, nan_at=None):
    if s == fail_at:
      raise KeyboardInterrupt
    w.assign_add(1.0)
    return {"loss": tf.constant(float("nan") if s == nan_at else float(s))}
  return loop, w, step


def saved_steps(logdir):
  state = tf.train.get_checkpoint_state(str(logdir / "ckpt"))
  return [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]


def test_train_loop_saves_on_schedule_logs_and_resumes(tmp_path):
  loop, w, step = counting_loop(tmp_path, 7)
  assert loop.start == 0 and not loop.finished
  r = loop.run(step, [w])
  assert (r["step"], r["status"], r["losses"]) == (7, "done", {"loss": 7.0})
  assert r["checkpoint"].endswith("ckpt-7") and saved_steps(tmp_path) == [3, 6, 7]
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [l["step"] for l in lines] == [2, 4, 6, 7]
  assert os.listdir(tmp_path / "tb")

  loop, w, step = counting_loop(tmp_path, 9)  # the same run, two steps more
  said = []
  assert loop.begin(said.append) and said == [f"resuming from step 7 ({tmp_path}/ckpt/ckpt-7)"]
  assert loop.start == 7 and w.numpy() == 7.0
  assert loop.run(step, [w])["step"] == 9 and saved_steps(tmp_path) == [6, 7, 9]
  loop, w, _ = counting_loop(tmp_path, 9)
  assert loop.finished and w.numpy() == 9.0
  assert not loop.begin(said.append) and "is already at step 9 of 9" in said[-1]


def test_train_loop_ctrl_c_saves_the_last_finished_step(tmp_path):
  loop, w, step = counting_loop(tmp_path, 10)
  r = loop.run(lambda s: step(s, fail_at=5), [w])
  assert (r["step"], r["status"]) == (4, "interrupted") and saved_steps(tmp_path) == [3, 4]
  assert counting_loop(tmp_path, 10)[1].numpy() == 4.0


def test_train_loop_never_saves_a_nan(tmp_path):
  loop, w, step = counting_loop(tmp_path, 10)
  with pytest.raises(training.NonFiniteLossError, match=r"step 6: loss loss is nan.*ckpt-3"):
    loop.run(lambda s: step(s, nan_at=6), [w])
  loop, w, step = counting_loop(tmp_path, 10)
  assert loop.start == 3
  w.assign(float("inf"))
  with pytest.raises(training.NonFiniteLossError, match=r"weights became non-finite.*ckpt-3"):
    loop.run(step, [w])
  assert saved_steps(tmp_path) == [3]


def test_train_loop_logs_and_evaluates_every_n_steps_and_at_the_last(tmp_path):
  loop, w, step = counting_loop(tmp_path, 7)
  seen = []

  def on_eval(s):  # runs with the TensorBoard writer at its step
    seen.append((s, int(tf.summary.experimental.get_step())))
    loop.log_eval(s, dict(fg_iou=s / 10, miou=0.5), ("fg_iou", "miou"))

  r = loop.run(step, [w], show=("loss",), log_extra=lambda: dict(seconds=1.5), evaluate=on_eval,
               eval_every=3)
  assert seen == [(3, 3), (6, 6), (7, 7)]
  assert r["eval"] == dict(fg_iou=0.7, miou=0.5) and loop.shown == dict(loss=7.0, iou=0.7)
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert [l for l in lines if "loss" in l] == [dict(step=s, seconds=1.5, loss=float(s))
                                               for s in (2, 4, 6, 7)]
  assert [(l["step"], l["eval"]["fg_iou"]) for l in lines if "eval" in l] == [
      (3, 0.3), (6, 0.6), (7, 0.7)]


def test_replicated_step_draws_once_per_global_batch():
  strategy = tf.distribute.get_strategy()
  rng = tf.random.Generator.from_seed(4)
  seen, after = tf.Variable(tf.zeros([3])), tf.Variable(0)

  def draw(batch, scale):
    return rng.uniform([batch]) * scale, tf.ones([batch, 2])

  def replica(x, noise, ones):
    seen.assign(noise)
    return dict(total=tf.reduce_sum(x + noise), rows=tf.cast(tf.shape(ones)[0], tf.float32))

  step = training.ReplicatedStep(strategy, replica, draw, jit=False,
                                 after_fn=lambda: after.assign_add(1))
  out = step((tf.ones([3]),), tf.constant(2.0))
  noise = tf.random.Generator.from_seed(4).uniform([3]).numpy() * 2.0
  assert seen.numpy().tolist() == noise.tolist() and int(after.numpy()) == 1
  assert float(out["total"]) == pytest.approx(3 + noise.sum()) and float(out["rows"]) == 3
  step((tf.ones([3]),), tf.constant(2.0))
  assert int(after.numpy()) == 2 and not (seen.numpy() == noise).any()  # the stream moves on
  # A step without inputs (HOC) draws its batch of batch_size; XLA for the replica and the draws.
  free = training.ReplicatedStep(strategy, lambda noise, ones: dict(n=tf.reduce_sum(ones)), draw,
                                 jit=True, jit_draw=True, batch_size=5)
  assert free.jit and float(free((), tf.constant(1.0))["n"]) == 10.0


def test_a_resumed_run_drops_the_metrics_lines_past_its_checkpoint(tmp_path):
  loop, w, step = counting_loop(tmp_path, 7)
  loop.run(step, [w])  # checkpoints 3, 6, 7; lines at steps 2, 4, 6, 7
  with open(tmp_path / "metrics.jsonl", "a") as f:  # a SIGKILL after step 8 was logged, before saving
    f.write(json.dumps(dict(step=8, loss=8.0)) + "\n" + '{"step": 9, "lo')
  loop, w, step = counting_loop(tmp_path, 10)
  assert loop.start == 7
  assert [json.loads(l)["step"] for l in open(tmp_path / "metrics.jsonl")] == [2, 4, 6, 7]
  loop.run(step, [w])
  assert [json.loads(l)["step"] for l in open(tmp_path / "metrics.jsonl")] == [2, 4, 6, 7, 8, 10]


def test_tensorboard_gets_losses_speed_learning_rates_and_hparams(tmp_path):
  rundir.prepare_logdir(str(tmp_path), dict(lr=0.25, preset="tiny", steps=6, widths=[1, 2]))
  w = tf.Variable(1.0)
  opt = tf.keras.optimizers.Adam(0.25)
  loop = training.TrainLoop(str(tmp_path), 6, dict(w=w, opt=opt), log_every=2, save_every=6,
                            progress=False)

  def step(s):
    with tf.GradientTape() as tape:
      loss = w * w
    opt.apply_gradients([(tape.gradient(loss, w), w)])
    return {"loss": loss}
  loop.run(step, [w])
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  acc = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
  acc.Reload()
  tags = acc.Tags()["tensors"]
  assert {"train/loss", "speed/steps_per_sec", "lr/opt"} <= set(tags), tags
  assert [e.step for e in acc.Tensors("speed/steps_per_sec")] == [2, 4, 6]
  assert all(tf.make_ndarray(e.tensor_proto) > 0 for e in acc.Tensors("speed/steps_per_sec"))
  assert float(tf.make_ndarray(acc.Tensors("lr/opt")[0].tensor_proto)) == 0.25
  assert "_hparams_/session_start_info" in tags, tags


def test_use_jit_keeps_xla_except_resize_networks_and_replicas_on_cpu():
  cpu = tf.distribute.get_strategy()  # no GPU in the test environment: the default device is a CPU
  assert training.use_jit(True, cpu, "deconv") is True
  assert training.use_jit(True, cpu, "resize") is False  # XLA's CPU resize gradient is slow
  assert training.use_jit(False, cpu, "deconv") is False

  def fake(*devices):
    return types.SimpleNamespace(extended=types.SimpleNamespace(worker_devices=devices),
                                 num_replicas_in_sync=len(devices))
  gpus, cpus = fake("/device:GPU:0", "/device:GPU:1"), fake("/device:CPU:0", "/device:CPU:1")
  assert training.use_jit(True, gpus, "resize") is True  # the exception is the CPU backend's
  assert training.use_jit(True, cpus, "deconv") is False  # one XLA device for two CPU replicas
  assert training.use_jit(True, fake("/device:CPU:0"), "deconv") is True
  # The steps ask: a resize-conv student on CPU trains without XLA, a deconv one with it.
  from ind_prior_tf.distill import config as distill_config
  from ind_prior_tf.distill import model as distill_lib
  for upsample, jit in (("resize", False), ("deconv", True)):
    config = distill_config.DistillConfig(image_size=64, width=0.125, batch_size=2, upsample=upsample)
    assert distill_lib.Distiller(config)._step.jit is jit
  from ind_prior_tf.hoc.instances import (
    student as instances,  # bilinear resize in its decoder: no XLA on CPU either
  )
  assert instances.InstanceStudent(instances.StudentConfig(width=0.125))._step.jit is False


def test_compiled_alone_compiles_where_xla_may_run_and_computes_the_same():
  def f(x):
    return tf.exp(-tf.abs(x[:, 1:] - x[:, :-1])) * 2.0
  x = tf.random.uniform([4, 9], seed=1)
  cpu = tf.distribute.get_strategy()
  assert training.compiled_alone(f, False, cpu) is f
  compiled = training.compiled_alone(f, True, cpu)
  assert compiled is not f
  np.testing.assert_allclose(compiled(x), f(x), rtol=1e-6)
  two_cpus = types.SimpleNamespace(
      extended=types.SimpleNamespace(worker_devices=("/device:CPU:0", "/device:CPU:1")),
      num_replicas_in_sync=2)
  assert training.compiled_alone(f, True, two_cpus) is f  # one XLA device for two CPU replicas


def test_copy_weights_and_moving_average_known_values():
  make = lambda: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1),
                                   keras.layers.BatchNormalization()])
  model, average = make(), make()
  training.copy_weights(model, average)
  for a, w in zip(average.weights, model.weights):  # moving statistics too
    np.testing.assert_array_equal(a.numpy(), w.numpy())
  before = [w.numpy() for w in model.weights]
  for w in model.weights:
    w.assign(w + 4.0)
  training.update_moving_average(average, model, 0.75)  # 0.75 w + 0.25 (w + 4) = w + 1
  for a, w in zip(average.weights, before):
    np.testing.assert_allclose(a.numpy(), w + 1.0, rtol=1e-6)
  check_one_moving_average_step(average, before, [w.numpy() for w in model.weights], 0.75)
