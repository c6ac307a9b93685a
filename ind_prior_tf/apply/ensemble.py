"""Ensembles of segmenters (not in the paper): a run directory whose masks are the mean of the masks of
other runs, its members.

An ensemble's run directory holds only flags.json: {"application": "ensemble", "members": [...], and
the members' image_size, width and upsample}; the members' paths are kept relative to it, so that a
chain's folder can be moved whole. segmenter.load_segmenter loads one as a Keras model averaging
its members, so every program that takes a segmenter's run directory (experiments.evaluate, segment,
export, consistency, distill's --teacher) takes an ensemble as it is. The refinement chain scores the
mean of its last students: the students of successive cycles make partly different errors, and
their mean is the surer the more they agree (docs/results.md).

TensorFlow-free: writing one needs only the members' flags.json and checkpoint index.
"""
import json
import os

from ind_prior_tf.errors import FlagError, RunError
from ind_prior_tf.runtime import rundir, runinfo

APPLICATION = "ensemble"
SPEC = ("image_size", "width", "upsample")


def is_ensemble(config):
  """Whether a run's flags.json (as a dict) describes an ensemble."""
  return isinstance(config, dict) and runinfo.kind(config) == APPLICATION


def _read_flags(run_dir, flag):
  try:
    return runinfo.read_flags(run_dir)
  except RunError as e:
    raise FlagError(f"{flag}: {e}") from None


def member_paths(run_dir, config):
  """The members' run directories of the ensemble in run_dir (paths relative to it resolved)."""
  return [os.path.normpath(os.path.join(run_dir, m)) for m in config["members"]]


def describe(run_dir, members, flag="--members"):
  """The flags.json of an ensemble in run_dir of the given members, after checking that each is a
  trained segmenter run (flags.json without z_dim, not itself an ensemble, a checkpoint under ckpt/)
  and that all take the same input size. FlagError naming `flag` otherwise."""
  if not members:
    raise FlagError(f"{flag}: required (run directories separated by commas)")
  if len(set(map(os.path.abspath, members))) != len(members):
    raise FlagError(f"{flag}={','.join(members)}: a run is listed twice")
  specs = []
  for member in members:
    config = _read_flags(member, f"{flag}={member}")
    if not runinfo.is_segmenter(config):
      raise FlagError(f"{flag}={member}: {runinfo.describe(config)}, not a segmenter")
    if is_ensemble(config):
      raise FlagError(f"{flag}={member}: an ensemble; list its members instead")
    if not os.path.isfile(os.path.join(member, "ckpt", "checkpoint")):
      raise FlagError(f"{flag}={member}: no checkpoint under {os.path.join(member, 'ckpt')}")
    specs.append((int(config.get("image_size", 128)), float(config.get("width", 1.0)),
                  config.get("upsample", "deconv")))
  sizes = sorted({s[0] for s in specs})
  if len(sizes) > 1:
    raise FlagError(f"{flag}: the runs take different input sizes ({', '.join(map(str, sizes))} px)")
  rel = [os.path.relpath(os.path.abspath(m), os.path.abspath(run_dir)) for m in members]
  return dict(application=APPLICATION, members=rel, **dict(zip(SPEC, specs[0])))


def write(run_dir, members, overwrite=False):
  """Writes the ensemble of `members` to run_dir/flags.json; returns "written" or "unchanged" (the
  same ensemble is there already). A run_dir holding a training run, or another ensemble without
  overwrite, is a FlagError naming --logdir, and nothing is written."""
  config = describe(run_dir, members)
  path = runinfo.flags_path(run_dir)
  if os.path.exists(path):
    old = _read_flags(run_dir, f"--logdir={run_dir}")
    if not is_ensemble(old):
      raise FlagError(f"--logdir={run_dir}: holds a training run; give another folder")
    if old == config:
      return "unchanged"
    if not overwrite:
      raise FlagError(f"--logdir={run_dir}: holds another ensemble ({', '.join(old['members'])}); "
                      "give --overwrite to replace it")
  rundir.check_writable_dir(run_dir, "--logdir")
  os.makedirs(run_dir, exist_ok=True)
  rundir.atomic_write_text(path, json.dumps(config, indent=2) + "\n")
  return "written"
