"""The configs of the programs that apply a trained segmenter: evaluation (`EvalConfig`) and file
segmentation (`SegmentConfig`), with the checks of their values and files. TensorFlow-free, so that the
entry points report a bad flag or a missing file before the seconds-long TensorFlow import.

Every check raises FlagError whose message names the flag (`--grabcut_band=0.6: must be in [0, 0.5)`),
so that `cli.run` reports it as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import json
import os
from typing import Optional

from ind_prior_tf import choices, colour_crf, ensemble, guided, refine, rundir, segment_outputs
from ind_prior_tf.errors import FlagError


def check_checkpoint(path, flag="--checkpoint"):
  """FlagError unless `path` is a TF checkpoint prefix (its .index file exists)."""
  if path and not os.path.isfile(f"{path}.index"):
    raise FlagError(f"{flag}={path}: no such checkpoint (no {path}.index); give a prefix such as "
                    "<run_dir>/ckpt/ckpt-3, or leave it out for the latest")


def check_run_dir(run_dir, flag="--run_dir"):
  path = os.path.join(run_dir, "flags.json")
  if not os.path.isfile(path):
    raise FlagError(f"{path}: missing; is {flag} a training run directory?")


def _read_flags(run_dir):
  """A run's flags.json as a dict, or None when it cannot be read as one."""
  try:
    with open(os.path.join(run_dir, "flags.json")) as f:
      flags = json.load(f)
  except (OSError, ValueError):
    return None
  return flags if isinstance(flags, dict) else None


def _run_time(run_dir, flags):
  """When a run last saved: its checkpoint index's time (TF rewrites ckpt/checkpoint at each save),
  an ensemble's when it was written, or None when it is not a segmenter run (flags None, no
  ckpt/checkpoint, or a HOC run)."""
  if flags is None or "z_dim" in flags:  # a HOC run (segmenter.run_kind)
    return None
  saved = "flags.json" if ensemble.is_ensemble(flags) else os.path.join("ckpt", "checkpoint")
  try:
    return os.path.getmtime(os.path.join(run_dir, saved))
  except OSError:
    return None


def newest_segmenter_run(root, flag="--runs"):
  """The segmenter run (flags.json + ckpt/ with a checkpoint, not a HOC run; or an ensemble) under
  `root` that saved last, searched in every subfolder (a run's own subfolders excepted: refinement
  chains nest runs). FlagError naming `flag` when there is none."""
  if not os.path.isdir(root):
    raise FlagError(f"{flag}={root}: no such folder of runs")
  best = None
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    if "flags.json" not in filenames:
      continue
    flags = _read_flags(dirpath)
    if "ckpt" in dirnames or ensemble.is_ensemble(flags):
      dirnames[:] = []
      when = _run_time(dirpath, flags)
      if when is not None and (best is None or when > best[0]):
        best = (when, dirpath)
  if best is None:
    raise FlagError(f"{flag}={root}: no segmenter run in it (a folder with flags.json and a "
                    "checkpoint under ckpt/, not a HOC run); train one or give --run_dir")
  return best[1]


def _check_crf(weight, sigma, iters, context):
  if weight < 0:
    raise FlagError(f"--crf_weight={weight}: must be >= 0")
  if not sigma > 0:
    raise FlagError(f"--crf_sigma={sigma}: must be > 0")
  if iters < 1:
    raise FlagError(f"--crf_iters={iters}: must be >= 1")
  if not 0 <= context <= choices.MAX_CONTEXT:
    raise FlagError(f"--crf_context={context}: must be in [0, {choices.MAX_CONTEXT}]")


def _check_grabcut(iters, band, weight, sure=0.0, radius=0, eps=guided.EPS):
  if iters < 0:
    raise FlagError(f"--grabcut_iters={iters}: must be >= 0")
  if not 0.0 <= band < 0.5:
    raise FlagError(f"--grabcut_band={band}: must be in [0, 0.5)")
  if not 0.0 <= weight <= 1.0:
    raise FlagError(f"--grabcut_weight={weight}: must be in [0, 1]")
  if not 0.0 <= sure < 0.5:
    raise FlagError(f"--grabcut_sure={sure}: must be in [0, 0.5)")
  if radius < 0:
    raise FlagError(f"--guided_radius={radius}: must be >= 0")
  if not eps > 0:
    raise FlagError(f"--guided_eps={eps}: must be > 0")


def _check_shift(shift):
  if not 0 <= shift <= choices.MAX_SHIFT:
    raise FlagError(f"--shift_average={shift}: must be in [0, {choices.MAX_SHIFT}] (pixels at the "
                    "network's input)")


def chain_score(c):
  """How the refinement chain of RefineConfig `c` scores its result (refine.plan's last stage), as
  the EvalConfig / SegmentConfig fields that say so."""
  return dict(flip_average=c.flip_average_score, shift_average=c.shift_average_score,
              crf_weight=c.crf_weight,
              crf_context=c.crf_context if c.crf_weight else 0.0,
              guided_radius=c.guided_radius, grabcut_iters=c.grabcut,
              grabcut_sure=c.grabcut_sure if c.grabcut else 0.0,
              grabcut_weight=c.grabcut_weight if c.grabcut else 1.0)


def with_recipe(config, recipe, given):
  """config (an EvalConfig or SegmentConfig) after --recipe: "chain" sets what the default
  refinement chain's score does to a network's masks (chain_score) for every field whose flag is
  not in `given`; "none" changes nothing."""
  if recipe not in choices.RECIPES:
    raise FlagError(f"--recipe={recipe}: expected one of {', '.join(choices.RECIPES)}")
  if recipe == "none":
    return config
  chosen = chain_score(refine.RefineConfig())
  return dataclasses.replace(config, **{k: v for k, v in chosen.items() if k not in given})


def _require(config, *names):
  for name in names:
    if not getattr(config, name):
      raise FlagError(f"--{name}: required")


@dataclasses.dataclass
class EvalConfig:
  """What experiments.evaluate scores (see its flags for each field)."""
  run_dir: Optional[str] = None
  prepared: Optional[str] = None
  checkpoint: Optional[str] = None
  split: str = "all"
  out_dir: Optional[str] = None
  cases: int = 8
  batch_size: int = 64
  grabcut_iters: int = 0
  grabcut_band: float = 0.0
  grabcut_weight: float = 1.0
  grabcut_sure: float = 0.0
  guided_radius: int = 0
  guided_eps: float = guided.EPS
  crf_weight: float = 0.0
  crf_sigma: float = colour_crf.SIGMA
  crf_iters: int = colour_crf.ITERS
  crf_context: float = 0.0
  raw_root: Optional[str] = None
  flip_average: bool = False
  shift_average: int = 0

  def validate(self):
    """The flags' values alone (no file is read)."""
    _require(self, "run_dir", "prepared")
    if self.split not in choices.SPLITS:
      raise FlagError(f"--split={self.split}: expected one of {', '.join(choices.SPLITS)}")
    if self.cases < 0:
      raise FlagError(f"--cases={self.cases}: must be >= 0")
    if self.batch_size < 1:
      raise FlagError(f"--batch_size={self.batch_size}: must be >= 1")
    _check_grabcut(self.grabcut_iters, self.grabcut_band, self.grabcut_weight,
                   self.grabcut_sure, self.guided_radius, self.guided_eps)
    _check_crf(self.crf_weight, self.crf_sigma, self.crf_iters, self.crf_context)
    _check_shift(self.shift_average)
    return self

  def check_files(self):
    """The flags' paths: the run, the checkpoint, the raw root and where the output goes."""
    if self.raw_root and not os.path.isdir(self.raw_root):
      raise FlagError(f"--raw_root={self.raw_root}: no such directory")
    check_run_dir(self.run_dir)
    check_checkpoint(self.checkpoint)
    rundir.check_writable_dir(self.output_dir())
    return self

  def output_dir(self):
    """--out_dir, by default <run_dir>/eval-<split>[-flip][-grabcut]."""
    return self.out_dir or os.path.join(
        self.run_dir, f"eval-{self.split}" + ("-flip" if self.flip_average else "")
        + ("-grabcut" if self.grabcut_iters else ""))


@dataclasses.dataclass
class SegmentConfig:
  """What experiments.segment segments (see its flags for each field). Without run_dir, `runs` names
  a folder whose newest segmenter run is used (check_files picks it)."""
  run_dir: Optional[str] = None
  runs: Optional[str] = None
  images: Optional[str] = None
  out_dir: Optional[str] = None
  checkpoint: Optional[str] = None
  image_root: Optional[str] = None
  boxes: Optional[str] = None
  threshold: Optional[float] = None
  batch_size: int = 16
  grabcut_iters: int = 0
  grabcut_band: float = 0.0
  grabcut_weight: float = 1.0
  grabcut_sure: float = 0.0
  guided_radius: int = 0
  guided_eps: float = guided.EPS
  crf_weight: float = 0.0
  crf_sigma: float = colour_crf.SIGMA
  crf_iters: int = colour_crf.ITERS
  crf_context: float = 0.0
  flip_average: bool = False
  shift_average: int = 0
  progress: bool = True
  overwrite: bool = False

  def validate(self):
    """The flags' values alone (no file is read)."""
    if not self.runs:
      _require(self, "run_dir")
    _require(self, "images", "out_dir")
    if self.threshold is not None and not 0 < self.threshold < 1:
      raise FlagError(f"--threshold={self.threshold}: must be in (0, 1)")
    if self.batch_size < 1:
      raise FlagError(f"--batch_size={self.batch_size}: must be >= 1")
    _check_grabcut(self.grabcut_iters, self.grabcut_band, self.grabcut_weight,
                   self.grabcut_sure, self.guided_radius, self.guided_eps)
    _check_crf(self.crf_weight, self.crf_sigma, self.crf_iters, self.crf_context)
    _check_shift(self.shift_average)
    return self

  def check_files(self):
    """The flags' paths that need no image read: the run (its newest under --runs when --run_dir is
    not given: then set here), the image root, the checkpoint and the output folder (the run's
    weights: segmenter.load_run_segmenter)."""
    if not self.run_dir:
      self.run_dir = newest_segmenter_run(self.runs)
    if self.image_root and not os.path.isdir(self.image_root):
      raise FlagError(f"--image_root={self.image_root}: no such folder")
    check_checkpoint(self.checkpoint)
    rundir.check_writable_dir(self.out_dir)
    segment_outputs.check_apart(self)
    return self
