"""Faults a long run must survive: SIGKILL in the middle of training (and of saving), resumed with the
right step and optimizer state, by a real subprocess as a user's run would be killed."""
import signal
import subprocess
import time

import pytest
import tensorflow as tf

from tests import entry
from tests.fgseg_fixtures import TINY, make_cub, make_pool, prepare_cub


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("faults")
  prepare_cub(make_cub(str(tmp / "cub")), tmp / "prep").ok()
  make_pool(str(tmp), name="bg.npz")
  return tmp


def checkpoint_values(prefix):
  """{name: value} of the step and both optimizers' iteration counters in a checkpoint."""
  reader = tf.train.load_checkpoint(prefix)
  names = [n for n, _ in tf.train.list_variables(prefix)]
  out = {"step": int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))}
  for opt in ("opt_g", "opt_d"):
    name = [n for n in names if n.startswith(opt + "/") and "iteration" in n]
    assert len(name) == 1, names
    out[opt] = int(reader.get_tensor(name[0]))
  return out


def latest_step(ckpt_dir):
  prefix = tf.train.latest_checkpoint(ckpt_dir)
  return (int(prefix.rsplit("-", 1)[1]), prefix) if prefix else (0, None)


def test_sigkill_mid_training_resumes_with_step_and_optimizer_state(prepared):
  logdir = prepared / "run"
  ckpt_dir = str(logdir / "ckpt")
  # A checkpoint at every step, so the kill often lands while a checkpoint is being written.
  common = [f"--prepared={prepared / 'prep'}", f"--backgrounds={prepared / 'bg.npz'}",
            f"--logdir={logdir}", *TINY, "--save_every=1", "--eval_every=0", "--log_every=1",
            "--max_to_keep=2", "--jit=false"]  # the kill and resume are the point, not XLA
  proc = entry.popen("experiments.fgseg", *common, "--steps=100000", stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
  try:
    deadline = time.time() + 240
    while latest_step(ckpt_dir)[0] < 4:
      assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
      assert time.time() < deadline, "no checkpoint at step 4 within 240 s"
      time.sleep(0.05)
    time.sleep(0.37)  # somewhere in a later step or save
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == -signal.SIGKILL

  killed_at, prefix = latest_step(ckpt_dir)
  assert killed_at >= 4
  # The latest checkpoint is whole: the step and both optimizers' counters agree with its name.
  assert checkpoint_values(prefix) == dict(step=killed_at, opt_g=killed_at, opt_d=killed_at)

  # The resumed run needs no process of its own.
  r = entry.call("experiments.fgseg", *common, f"--steps={killed_at + 2}").ok()
  assert f"resuming from step {killed_at}" in r.out
  step, prefix = latest_step(ckpt_dir)
  assert step == killed_at + 2
  assert checkpoint_values(prefix) == dict(step=step, opt_g=step, opt_d=step)
  # metrics.jsonl holds the resumed steps after the killed run's.
  steps = [int(l.split('"step": ')[1].split(",")[0]) for l in open(logdir / "metrics.jsonl")]
  assert steps[-2:] == [killed_at + 1, killed_at + 2]



def test_sigterm_saves_the_current_step_and_exits_130(prepared):
  """`timeout`, Slurm and Kubernetes stop a run with SIGTERM: it is Ctrl-C (cli.run), the step saved."""
  logdir = prepared / "term"
  ckpt_dir = str(logdir / "ckpt")
  proc = entry.popen("experiments.fgseg", f"--prepared={prepared / 'prep'}",
                     f"--backgrounds={prepared / 'bg.npz'}", f"--logdir={logdir}", *TINY,
                     "--save_every=1000", "--eval_every=0", "--log_every=1", "--jit=false",
                     "--steps=100000", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 240
    while not (logdir / "metrics.jsonl").exists() or len(
        (logdir / "metrics.jsonl").read_text().splitlines()) < 2:
      assert proc.poll() is None, proc.stderr.read()[-2000:]
      assert time.time() < deadline, "no second step within 240 s"
      time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err[-2000:]
  step, prefix = latest_step(ckpt_dir)
  assert step >= 2 and f"interrupted at step {step}; checkpoint {prefix}" in out
  assert checkpoint_values(prefix) == dict(step=step, opt_g=step, opt_d=step)
