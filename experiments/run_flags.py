"""The run flags the three training entry points (fgseg, distill, hoc) share, defined in one place:
seed, XLA, dtype policy, tf.distribute strategy, determinism, logging and checkpoint cadence,
progress bar, and --overwrite with the clean-up it implies.

Each entry point is its own process and calls `define` once, at import, with its own defaults.
"""
import os
import shutil

from absl import flags

STRATEGIES = ("default", "mirrored", "multi_worker")
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def define(*, save_every, overwrite_removes, networks="networks"):
  """Defines --seed --jit --mixed_precision --strategy --deterministic --overwrite --log_every
  --save_every --max_to_keep --progress. overwrite_removes: what --overwrite deletes, for its help."""
  flags.DEFINE_integer("seed", 0, "Seed of every random generator.")
  flags.DEFINE_boolean("jit", True, "XLA-compile the train step.")
  flags.DEFINE_enum("mixed_precision", "float32", list(POLICIES),
                    f"Keras dtype policy of the {networks} (see ind_prior_tf/precision.py); float32 "
                    "on CPUs.")
  flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
  flags.DEFINE_boolean("deterministic", False, "Deterministic kernels (slower).")
  flags.DEFINE_boolean("overwrite", False,
                       f"Start afresh in --logdir: delete its {overwrite_removes}.")
  flags.DEFINE_integer("log_every", 50,
                       "Steps between loss checks, TensorBoard scalars and log lines.")
  flags.DEFINE_integer("save_every", save_every, "Steps between checkpoints.")
  flags.DEFINE_integer("max_to_keep", 3, "Checkpoints kept.")
  flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def fresh_start(logdir, subdirs, files=("metrics.jsonl",)):
  """--overwrite: removes what an earlier run left in logdir (these subdirectories and files), so
  nothing of it is resumed. flags.json stays until the new run rewrites it."""
  for sub in subdirs:
    shutil.rmtree(os.path.join(logdir, sub), ignore_errors=True)
  for name in files:
    path = os.path.join(logdir, name)
    if os.path.exists(path):
      os.remove(path)
