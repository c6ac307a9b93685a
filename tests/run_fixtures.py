"""Run directories, stand-in models and small sets that several test modules share: a teacher run and a
HOC generator run as the entry points write them, a segmenter whose mask ignores its image, the
refinement chain's stand-in runner, a separable set of discs. Plain helpers; test modules import them
from here (or from data_fixtures, fgseg_fixtures, entry), never from one another."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import networks
from ind_prior_tf.data import prepared, raw
from ind_prior_tf.refine import run as refine_run
from ind_prior_tf.runtime import training
from tests import entry
from tests.fgseg_fixtures import make_cub

S = 64
# The GAN's sizes of the in-process tests of Application 1's step and loop.
TINY_GAN = dict(image_size=64, width=0.125, d_width=0.125, batch_size=4)


def make_teacher_run(run, size=S, width=0.125, seed=0):
  """A teacher run directory as the fgseg entry point writes one (contract of segmenter.py)."""
  tf.keras.utils.set_random_seed(seed)
  unet = networks.unet(size, width)
  os.makedirs(run, exist_ok=True)
  with open(os.path.join(run, "flags.json"), "w") as f:
    json.dump(dict(image_size=size, width=width, upsample="deconv"), f)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=unet).save(1)
  return unet


def say_foreground_everywhere(unet):
  """Makes a UNet's mask 'foreground' (sigmoid(5)) at every pixel: the same under any flip."""
  for w in unet.weights:
    w.assign(tf.zeros_like(w))
  unet.weights[-1].assign(tf.fill(unet.weights[-1].shape, 5.0))  # the output layer's bias
  return unet


def random_images(n, size=S, seed=0):
  return np.random.RandomState(seed).randint(0, 256, (n, size, size, 3)).astype(np.uint8)


def write_prepared(path, images):
  examples = ({"image": im, "mask": None, "id": i + 1, "is_train": True}
              for i, im in enumerate(images))
  prepared.write_prepared(str(path), examples, images.shape[1], "synthetic")


def prepared_cub(tmp_path, n):
  """A CUB-layout raw set of n images and the set prepared from it: (raw root, prepared dir)."""
  root = make_cub(str(tmp_path / "cub"), n=n)
  prep = str(tmp_path / "prep")
  prepared.prepare_set(raw.read_cub(root), prep, S, source=f"cub:{root}")
  return root, prep


def trained_looking(model, seed=0):
  """Non-trivial BN statistics, so that inference mode is really what gets exported."""
  rng = np.random.RandomState(seed)
  for v in model.non_trainable_weights:
    v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))


def make_generator_run(run, z_dim=4, size=16, width=0.125):
  g = networks.instance_generator(z_dim, size, width)
  trained_looking(g)
  os.makedirs(run, exist_ok=True)
  with open(os.path.join(run, "flags.json"), "w") as f:
    json.dump(dict(z_dim=z_dim, image_size=size, width=width, upsample="deconv", n_layers=3), f)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), generator=g).save(7)
  return g


def ramp_model(size):
  """A 'segmenter' whose mask ignores the image: 0 on the left edge rising to 1 on the right."""
  ramp = tf.reshape(tf.linspace(0.0, 1.0, size), [1, 1, size, 1])
  inputs = keras.Input((size, size, 3))
  out = keras.layers.Lambda(lambda x: tf.zeros_like(x[..., :1]) + ramp)(inputs)
  return keras.Model(inputs, out)


def check_one_moving_average_step(average, before, after, decay):
  """After one step of training.update_moving_average: each of `average`'s weights is decay x its
  value `before` the step plus (1 - decay) x the trained weight `after` it, and some weight moved."""
  moved = 0
  for e, a, b in zip(average.weights, before, after):
    np.testing.assert_allclose(e.numpy(), decay * a + (1 - decay) * b, rtol=1e-6, atol=1e-7)
    moved += int(not np.array_equal(a, b))
  assert moved > 0


def separable_set(n, seed=0, size=64):
  """Red discs of random size and place on green noise; masks exact. Returns crops and masks."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:size, 0:size]
  images = np.stack([rng.uniform(0.1, 0.3, (n, size, size)), rng.uniform(0.4, 0.7, (n, size, size)),
                     rng.uniform(0.1, 0.3, (n, size, size))], -1).astype(np.float32)
  masks = np.zeros((n, size, size, 1), np.float32)
  for i in range(n):
    r = rng.uniform(0.25, 0.45) * size
    cy, cx = rng.uniform(r, size - r, 2)
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    images[i][disc] = [0.85, 0.15, 0.15]
    masks[i, disc] = 1.0
  return images, masks


def green_pool(n=64, size=64, seed=1):
  rng = np.random.default_rng(seed)
  return tf.constant(np.stack([rng.uniform(0.1, 0.3, (n, size, size)), rng.uniform(0.4, 0.7, (
      n, size, size)), rng.uniform(0.1, 0.3, (n, size, size))], -1).astype(np.float32))


class FakeRunner:
  """Stands in for the refinement chain's subprocesses: logs each stage and writes what the chain
  reads back (a check's consistency.json, the score's scores.json); `drops` maps a check to its run's
  fall."""

  def __init__(self, drops=None, fail=None):
    self.drops, self.fail, self.ran = drops or {}, fail, []

  def __call__(self, stage):
    self.ran.append(stage.name)
    if stage.name == self.fail:
      return 1
    os.makedirs(stage.run_dir, exist_ok=True)
    if stage.is_check:
      drop = self.drops.get(stage.name, 0.0)
      report = dict(flip_consistency=0.9 - drop, checkpoint=f"{stage.run_dir}/ckpt/ckpt-2")
      if stage.flag("baseline"):
        report["baseline_flip_consistency"] = 0.9
      with open(os.path.join(stage.run_dir, "consistency.json"), "w") as f:
        json.dump(report, f)
      too_far = stage.flag("max_drop") and drop > float(stage.flag("max_drop"))
      return refine_run.DROPPED if too_far else 0
    if stage.name == "score":
      path = refine_run.scores_path(stage)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "w") as f:
        json.dump(dict(fg_iou=0.5, miou=0.6), f)
    return 0


# What a script run by run_script starts with: two logical CPUs (a mirrored strategy's two replicas).
PRELUDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def copy_weights(src, dst):
      for a, b in zip(src, dst):
        b.assign(a)

    def report(start, single, replicated, outs):
      # ulps: one float32 step at each variable's largest magnitude after the steps.
      diffs, updates, ulps = {}, {}, {}
      for w0, a, b in zip(start, single, replicated):
        diffs[b.path] = float(np.max(np.abs(a.numpy() - b.numpy())))
        updates[b.path] = float(np.max(np.abs(a.numpy() - w0)))
        ulps[b.path] = float(np.spacing(np.max(np.abs(a.numpy())).astype(np.float32)))
      off = np.concatenate([np.abs(a.numpy() - b.numpy()).ravel() > 1e-5
                            for a, b in zip(single, replicated)])
      print("RESULT " + json.dumps(dict(diffs=diffs, updates=updates, ulps=ulps,
                                        off=float(off.mean()), outs=outs)))
""")


# What every script run_python runs ends with, once it has printed its RESULT line: an exit that skips
# the interpreter's tear-down, in which TensorFlow took seconds more (a distributed dataset's endless
# iterator, the strategy's devices) that no check looks at. A script that fails never gets here.
EXIT_AT_ONCE = "\nsys.stdout.flush()\nsys.stderr.flush()\nimport os\nos._exit(0)\n"


def run_python(code, *args):
  """Runs code (which imports sys) in a fresh Python process with entry.spawn's environment and
  returns the JSON of its last `RESULT ` line; fails with its stderr when it fails."""
  proc = subprocess.run([sys.executable, "-c", code + EXIT_AT_ONCE, *args], capture_output=True,
                        text=True, timeout=300, env=entry.env(), cwd=entry.ROOT)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  return json.loads(lines[-1][len("RESULT "):])


def run_script(body, *args):
  """run_python of PRELUDE (two logical CPUs, a mirrored strategy, its helpers), then body."""
  return run_python(PRELUDE + body, *args)


def check_losses(result):
  for step in result["outs"]:
    for name, (single, replicated) in step.items():
      assert single == pytest.approx(replicated, rel=1e-4, abs=1e-5), (name, step)
