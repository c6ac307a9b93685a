"""A run directory as every loader reads it: its flags.json, the kind of run it is and its recipe
(postprocess.json). TensorFlow-free, so that a wrong run is reported before TensorFlow loads.

Every run writes its kind as flags.json's "application": fgseg (a GAN teacher), distill (a student),
ensemble (the mean of segmenter runs), hoc (a HOC generator), instances (the instance student of
hoc_count). Runs written before the kind was recorded are told apart as before: a HOC run's flags hold
z_dim, any other is a segmenter (read as fgseg).
"""
import json
import os

from ind_prior_tf.errors import RunError

FLAGS = "flags.json"
RECIPE = "postprocess.json"
KEY = "application"
KINDS = ("fgseg", "distill", "ensemble", "hoc", "instances")
SEGMENTERS = ("fgseg", "distill", "ensemble")  # runs whose masks segment, evaluate and export read


def flags_path(run_dir):
  return os.path.join(run_dir, FLAGS)


def recipe_path(run_dir):
  return os.path.join(run_dir, RECIPE)


def recipe_file(run_dir):
  """The path of the recipe the run carries, or None when it carries none (postprocess.run_recipe
  reads and checks it)."""
  path = recipe_path(run_dir)
  return path if os.path.isfile(path) else None


def has_flags(run_dir):
  return os.path.isfile(flags_path(run_dir))


def read_flags(run_dir):
  """The run's flags.json as a dict. RunError when it is missing, not JSON or not an object; callers
  that answer a flag re-raise it as a FlagError naming the flag."""
  path = flags_path(run_dir)
  if not os.path.isfile(path):
    raise RunError(f"{path}: missing; is {run_dir} a training run directory?")
  try:
    with open(path) as f:
      flags = json.load(f)
  except ValueError as e:
    raise RunError(f"{path}: not valid JSON ({e})") from None
  except OSError as e:
    raise RunError(f"{path}: unreadable ({e.strerror or e})") from None
  if not isinstance(flags, dict):
    raise RunError(f"{path}: not a run's flags (a JSON object)")
  return flags


def try_read_flags(run_dir):
  """The run's flags.json as a dict, or None when it cannot be read as one."""
  try:
    return read_flags(run_dir)
  except RunError:
    return None


def kind(flags):
  """The kind of the run whose flags.json (a dict) this is: the one it records, else the guess for
  runs written before it was recorded (z_dim: hoc, otherwise fgseg)."""
  recorded = flags.get(KEY)
  if recorded:
    return recorded
  return "hoc" if "z_dim" in flags else "fgseg"


def is_segmenter(flags):
  return kind(flags) in SEGMENTERS


def is_generator(flags):
  return kind(flags) == "hoc"


def describe(flags):
  """'a HOC run', 'a distill run', ...: the kind of a run as an error message names it."""
  return "a HOC run" if is_generator(flags) else f"a {kind(flags)} run"


def with_kind(flags, run_kind):
  """flags (a dict) with the run's kind added when it does not say it yet; other keys untouched."""
  assert run_kind in KINDS, run_kind
  return flags if KEY in flags else dict(flags, **{KEY: run_kind})
