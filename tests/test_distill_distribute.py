"""A distillation step under MirroredStrategy on two logical CPU devices, fed per-replica halves as
the training loop feeds it, equals a single-device step on the same global batch: the composites'
randomness is drawn once per global batch and split by replica, and the loss is scaled by 1/replicas.

Logical devices must be configured before TensorFlow initialises its devices: a fresh process."""
import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    from ind_prior_tf import distill_lib
    cfg = distill_lib.DistillConfig(image_size=64, width=0.125, batch_size=4)
    single, replicated = distill_lib.Distiller(cfg), distill_lib.Distiller(cfg, strategy=mirrored)
    for a, b in zip(single.student.weights, replicated.student.weights):
      b.assign(a)
    rs = np.random.RandomState(0)
    images = rs.randint(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    masks = rs.randint(0, 256, (4, 64, 64, 1)).astype(np.uint8)
    pool = rs.randint(0, 256, (5, 72, 72, 3)).astype(np.uint8)
    batches = iter(mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((images, masks)).repeat()))
    outs = []
    for _ in range(2):
      a = single.train_step(tf.constant(images), tf.constant(masks), tf.constant(pool))
      b = replicated.train_step(*next(batches), tf.constant(pool))
      outs.append({k: [float(a[k]), float(b[k])] for k in a})
    diffs = np.concatenate([np.abs(a.numpy() - b.numpy()).ravel()
                            for a, b in zip(single.student.weights, replicated.student.weights)])
    print("RESULT " + json.dumps(dict(outs=outs, diff=float(diffs.max()),
                                      off=float(np.mean(diffs > 1e-5)))))
""")


def test_mirrored_distillation_step_equals_single_device_step():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                        timeout=300, env=env, cwd=ROOT)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  result = json.loads(lines[-1][len("RESULT "):])
  for step in result["outs"]:
    for name, (single, replicated) in step.items():
      assert abs(single - replicated) <= 1e-5 + 1e-4 * abs(single), (name, step)
  # Adam divides each gradient by its own RMS, so float round-off in a near-zero gradient can move
  # that weight by up to lr (1e-3) per step: bound the worst weight by two steps, and ask nearly all
  # weights to agree to round-off (a wrong split or scale would move most of them by ~lr).
  assert result["diff"] < 2e-3, result
  assert result["off"] < 0.01, result
