"""Faults a long run must survive: SIGKILL in the middle of training (and of saving), resumed with the
right step and optimizer state, and SIGTERM, by real subprocesses as a user's run would be stopped."""
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


def wait_for(proc, done, what, seconds=240):
  """Polls `done()` while `proc` runs; fails with its stderr if it ends first, or after `seconds`."""
  deadline = time.time() + seconds
  while not done():
    if proc.poll() is not None:
      err = proc.stderr.read()
      raise AssertionError((err.decode() if isinstance(err, bytes) else err)[-2000:])
    assert time.time() < deadline, f"{what} not within {seconds} s"
    time.sleep(0.05)


def test_sigkill_mid_training_then_sigterm_of_the_resumed_run(prepared):
  """One run killed twice, as a user's run would be: SIGKILL in the middle of training (and of saving)
  is resumed with the right step and optimizer state; the resumed process is then stopped with
  SIGTERM, as `timeout`, Slurm and Kubernetes stop a run: that is Ctrl-C (cli.run), the current step
  saved and exit status 130. (Two processes, not three: the resumed run is the one stopped.)"""
  logdir = prepared / "run"
  ckpt_dir = str(logdir / "ckpt")
  # A checkpoint at every step, so the kill often lands while a checkpoint is being written.
  common = [f"--prepared={prepared / 'prep'}", f"--backgrounds={prepared / 'bg.npz'}",
            f"--logdir={logdir}", *TINY, "--eval_every=0", "--log_every=1", "--max_to_keep=2",
            "--jit=false", "--steps=100000"]  # the kills and resumes are the point, not XLA
  proc = entry.popen("experiments.fgseg", *common, "--save_every=1", stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
  try:
    wait_for(proc, lambda: latest_step(ckpt_dir)[0] >= 4, "a checkpoint at step 4")
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

  # Resumed with checkpoints far apart: the one SIGTERM writes is the only one after the kill.
  logged = len((logdir / "metrics.jsonl").read_text().splitlines())
  proc = entry.popen("experiments.fgseg", *common, "--save_every=1000", stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
  try:
    wait_for(proc, lambda: len((logdir / "metrics.jsonl").read_text().splitlines()) >= logged + 2,
             "two resumed steps")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err[-2000:]
  assert f"resuming from step {killed_at}" in out
  step, prefix = latest_step(ckpt_dir)
  assert step >= killed_at + 2 and f"interrupted at step {step}; checkpoint {prefix}" in out
  assert checkpoint_values(prefix) == dict(step=step, opt_g=step, opt_d=step)
  # metrics.jsonl holds every step once, in order: the killed run's up to its checkpoint, then the
  # resumed run's (the step that SIGTERM cut short of its line, if any, saved all the same).
  steps = [int(l.split('"step": ')[1].split(",")[0]) for l in open(logdir / "metrics.jsonl")]
  assert steps == list(range(1, len(steps) + 1)) and steps[-1] in (step - 1, step), (step, steps)
