"""Run directories: flags.json beside the checkpoints (a resumed run is the experiment it claims to be),
files written atomically, metrics.jsonl, where a run stands, and --overwrite's clean-up."""
import json
import os
import shutil

from ind_prior_tf.errors import FlagError, RunError
from ind_prior_tf.runtime import runinfo, runlock

# Flags that may change between a run and its resumption without making it a different experiment.
RESUMABLE_KEYS = frozenset({
    "steps", "log_every", "save_every", "image_every", "eval_every", "overwrite", "progress",
    "logdir", "strategy", "jit", "deterministic", "max_to_keep", "preset_info"})


def prepare_logdir(logdir, config, overwrite=False, filename="flags.json", defaults=None, kind=None):
  """Creates logdir and writes the config as JSON beside the checkpoints.

  Reusing a directory whose saved config differs (outside RESUMABLE_KEYS) is refused unless
  `overwrite`, so that a resumed run is always the experiment it claims to be. A key missing from the
  saved config (a flag added after the run began) counts as its value in `defaults`, so that runs
  written by an older version still resume. With overwrite the old checkpoints are NOT deleted here;
  callers pass a fresh directory or remove it deliberately. kind: the run's kind (runinfo.KINDS),
  recorded when the config does not say it; a run written before kinds were recorded resumes as it.
  """
  os.makedirs(logdir, exist_ok=True)
  runlock.acquire(logdir)  # one writer per run: a second training of it is refused here
  path = os.path.join(logdir, filename)
  config = runinfo.with_kind(config, kind) if kind else dict(config)
  if os.path.exists(path) and not overwrite:
    try:
      with open(path) as f:
        old = json.load(f)
    except (OSError, ValueError) as e:
      raise RunError(f"{path}: unreadable ({e}); pass --overwrite to replace it") from None
    old = {**(defaults or {}), **old}
    if kind and runinfo.KEY not in old:
      old[runinfo.KEY] = config[runinfo.KEY]
    diff = sorted(k for k in set(old) | set(config)
                  if k not in RESUMABLE_KEYS and old.get(k) != config.get(k))
    if diff:
      shown = ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in diff[:4])
      raise RunError(f"{logdir} holds a run with other flags ({shown}); use another --logdir "
                     "or pass --overwrite")
  atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True, default=str))
  return path


def check_writable_dir(path, flag="--out_dir"):
  """FlagError unless `path` is a directory or can be made one (its nearest existing ancestor is a
  writable directory): checked before minutes of work rather than at the first write."""
  probe = os.path.abspath(path)
  while not os.path.exists(probe):
    parent = os.path.dirname(probe)
    if parent == probe:
      break
    probe = parent
  if not os.path.isdir(probe):
    raise FlagError(f"{flag}={path}: {probe} is not a directory")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise FlagError(f"{flag}={path}: {probe} is not writable")


def atomic_write_text(path, text):
  """Writes via a temporary file and a rename, so a kill never leaves half a file."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def append_jsonl(path, record):
  """One JSON line per record (metrics.jsonl): appended, so a resumed run continues the file."""
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def truncate_jsonl(path, last_step):
  """Drops the lines of a metrics.jsonl whose step is past `last_step` (a resumed run trains those
  steps again); a missing file or one with nothing to drop is left alone."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      step = json.loads(line).get("step", 0)
    except ValueError:  # a line cut short by a kill
      continue
    if step <= last_step:
      kept.append(line if line.endswith("\n") else line + "\n")
  if len(kept) != len(lines):
    atomic_write_text(path, "".join(kept))


def fresh_start(logdir, subdirs, files=("metrics.jsonl",)):
  """--overwrite: removes what an earlier run left in logdir (these subdirectories and files), so
  nothing of it is resumed. flags.json stays until the new run rewrites it. Takes the run's lock
  first: a run another training is writing is never cleared."""
  runlock.acquire(logdir)
  for sub in subdirs:
    shutil.rmtree(os.path.join(logdir, sub), ignore_errors=True)
  for name in files:
    path = os.path.join(logdir, name)
    if os.path.exists(path):
      os.remove(path)


def saved_step(logdir):
  """(step, prefix) of <logdir>/ckpt's latest checkpoint, or (0, None) when it has none: lets an
  entry point skip costly preparation (a teacher labelling every image) for a finished run."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (the rest of the module is TF-free)
  latest = tf.train.latest_checkpoint(os.path.join(logdir, "ckpt"))
  if latest is None:
    return 0, None
  return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE")), latest


def finished_message(logdir, step, steps):
  return f"{logdir} is already at step {step} of {steps}; raise --steps to train on"
