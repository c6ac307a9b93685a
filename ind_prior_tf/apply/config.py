"""The configs of the programs that apply a trained segmenter: evaluation (`EvalConfig`) and file
segmentation (`SegmentConfig`), with the checks of their values and files. TensorFlow-free, so that the
entry points report a bad flag or a missing file before the seconds-long TensorFlow import.

Every check raises FlagError whose message names the flag (`--grabcut_sure=0.6: must be in [0, 0.5)`),
so that `cli.run` reports it as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import os
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.apply import ensemble, segment_outputs
from ind_prior_tf.errors import FlagError
from ind_prior_tf.knobs import knob
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.postprocess.stage import PostConfig
from ind_prior_tf.refine import config as refine_config
from ind_prior_tf.refine import plan as refine
from ind_prior_tf.runtime import rundir, runinfo


def check_checkpoint(path, flag="--checkpoint"):
  """FlagError unless `path` is a TF checkpoint prefix (its .index file exists)."""
  if path and not os.path.isfile(f"{path}.index"):
    raise FlagError(f"{flag}={path}: no such checkpoint (no {path}.index); give a prefix such as "
                    "<run_dir>/ckpt/ckpt-3, or leave it out for the latest")


def check_run_dir(run_dir, flag="--run_dir"):
  path = runinfo.flags_path(run_dir)
  if not os.path.isfile(path):
    raise FlagError(f"{path}: missing; is {flag} a training run directory?")


def _run_time(run_dir, flags):
  """When a run last saved: its checkpoint index's time (TF rewrites ckpt/checkpoint at each save),
  an ensemble's when it was written, or None when it is not a segmenter run (flags None, no
  ckpt/checkpoint, or a HOC run)."""
  if flags is None or not runinfo.is_segmenter(flags):
    return None
  saved = runinfo.FLAGS if ensemble.is_ensemble(flags) else os.path.join("ckpt", "checkpoint")
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
    if runinfo.FLAGS not in filenames:
      continue
    flags = runinfo.try_read_flags(dirpath)
    if "ckpt" in dirnames or ensemble.is_ensemble(flags):
      dirnames[:] = []
      when = _run_time(dirpath, flags)
      if when is not None and (best is None or when > best[0]):
        best = (when, dirpath)
  if best is None:
    raise FlagError(f"{flag}={root}: no segmenter run in it (a folder with flags.json and a "
                    "checkpoint under ckpt/, not a HOC run); train one or give --run_dir")
  return best[1]


def resolve_post(choice, run_dir, overrides=None):
  """(postprocess.PostConfig, where it came from) for --postprocess=`choice` and the post-processing
  flags given on the command line (`overrides`, {field: value}, which win over the choice's):
    run    the run's own postprocess.json, or nothing when it has none (the default);
    none   nothing: the network's masks as they are;
    chain  the default refinement chain's score (refine.score_recipe);
    <file> a postprocess.json (as a chain writes into its result, or by hand).
  """
  overrides = dict(overrides or {})
  if choice == "run":
    post = postprocess.run_recipe(run_dir)
    source = (f"the run's recipe ({os.path.join(run_dir, postprocess.RECIPE_FILE)})"
              if post is not None else "the run carries no recipe")
    post = post or postprocess.PostConfig()
  elif choice == "none":
    post, source = postprocess.PostConfig(), "--postprocess=none"
  elif choice == "chain":
    post, source = refine.score_recipe(refine_config.RefineConfig()), "the default chain's recipe"
  elif choice and os.path.isfile(choice):
    post, source = postprocess.read_file(choice), choice
  else:
    raise FlagError(f"--postprocess={choice}: expected {', '.join(choices.POSTPROCESS)} or a "
                    f"{postprocess.RECIPE_FILE} file")
  if overrides:
    post = dataclasses.replace(post, **overrides)
    source += ", with " + " ".join(f"--{k}={v}" for k, v in sorted(overrides.items()))
  return post.validate(), source


def post_line(post, source):
  """The first line evaluate and segment print: which post-processing runs, and from where."""
  return f"post-processing: {post.describe()} [{source}]"


def _check_post(config):
  if not config.postprocess:
    raise FlagError("--postprocess: required (run, none, chain or a file)")
  postprocess.PostConfig(**config.post_flags).validate()  # the flags given, before any file


def _resolve(config):
  config.post, config.post_source = resolve_post(config.postprocess, config.run_dir,
                                                 config.post_flags)
  if config.post.needs_opencv:
    try:
      postprocess.grabcut.require_opencv()
    except ImportError as e:
      flag = "--grabcut_iters" if config.post.grabcut_iters else "--guided_radius"
      raise FlagError(f"{flag}: {e}") from None


def _require(config, *names):
  for name in names:
    if not getattr(config, name):
      raise FlagError(f"--{name}: required")


@dataclasses.dataclass
class EvalConfig:
  """What experiments.evaluate scores; each field made with `knob` is its flag."""
  run_dir: Optional[str] = knob(None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
  prepared: Optional[str] = knob(None, "Prepared set with masks (meta.json + TFRecord shards).")
  checkpoint: Optional[str] = knob(None, "A checkpoint prefix of the run (default: the latest).")
  split: str = knob("all", "Images to score (only those with a mask count).", choices.SPLITS)
  out_dir: Optional[str] = knob(None,
      "Where scores.json, per_image.csv and cases.png go (default <run_dir>/eval-<split>, with "
      "-<the post-processing's settings> when any runs).")
  cases: int = knob(8, "Best and worst cases shown in cases.png.")
  batch_size: int = knob(64, "Images per inference batch.")
  raw_root: Optional[str] = knob(None,
      "The raw set the prepared one was made from, for GrabCut and the CRF on the photo; default: "
      "the one its meta.json records.")
  postprocess: str = "run"
  # The post-processing flags given on the command line ({field of postprocess.PostConfig: value});
  # check_files resolves them with --postprocess into `post` (and says where it came from).
  post_flags: dict = dataclasses.field(default_factory=dict)
  post: Optional[PostConfig] = None
  post_source: str = ""

  def validate(self):
    """The flags' values alone (no file is read)."""
    _require(self, "run_dir", "prepared")
    if self.split not in choices.SPLITS:
      raise FlagError(f"--split={self.split}: expected one of {', '.join(choices.SPLITS)}")
    if self.cases < 0:
      raise FlagError(f"--cases={self.cases}: must be >= 0")
    if self.batch_size < 1:
      raise FlagError(f"--batch_size={self.batch_size}: must be >= 1")
    _check_post(self)
    return self

  def check_files(self):
    """The flags' paths: the run, its post-processing (--postprocess: then `post` is set), the
    checkpoint, the raw root and where the output goes."""
    if self.raw_root and not os.path.isdir(self.raw_root):
      raise FlagError(f"--raw_root={self.raw_root}: no such directory")
    check_run_dir(self.run_dir)
    _resolve(self)
    check_checkpoint(self.checkpoint)
    rundir.check_writable_dir(self.output_dir())
    return self

  def output_dir(self):
    """--out_dir, by default <run_dir>/eval-<split>, with -<the post-processing's tag> when any
    runs: evaluations that differ in any setting never share a folder."""
    tag = self.post.tag() if self.post is not None else ""
    return self.out_dir or os.path.join(self.run_dir, f"eval-{self.split}"
                                        + (f"-{tag}" if tag else ""))


@dataclasses.dataclass
class SegmentConfig:
  """What experiments.segment segments; each field made with `knob` is its flag. Without run_dir,
  `runs` names a folder whose newest segmenter run is used (check_files picks it)."""
  run_dir: Optional[str] = knob(None, "Run directory of a segmenter (flags.json + ckpt/).")
  runs: Optional[str] = knob(None,
      "Without --run_dir: use the newest segmenter run (by its last checkpoint) in this folder of "
      "runs (`make segment` passes $RUNS).")
  images: Optional[str] = knob(None,
      "One image, a folder of images (subfolders included), a quoted glob pattern, or a list file "
      "of image paths.")
  out_dir: Optional[str] = knob(None, "Where masks/ and cutouts/ are written.")
  checkpoint: Optional[str] = knob(None, "A checkpoint of the run (default: its latest).")
  image_root: Optional[str] = knob(None,
      "Folder that relative paths of a list file start from (default: the list's folder, or its "
      "images/ subfolder for a CUB images.txt).")
  boxes: Optional[str] = knob(None,
      "Optional boxes file: `<image_id or name> x y w h` per line, or CSV `name,x,y,w,h`.")
  threshold: Optional[float] = knob(None, "Write binary masks (mask > threshold) instead of soft ones.")
  batch_size: int = knob(16, "Images per forward pass.")
  progress: bool = knob(True, "Show a progress bar.")
  overwrite: bool = knob(False,
      "Replace the masks/, cutouts/ and skipped.txt an earlier segmentation wrote in --out_dir "
      "(never files it did not write).")
  postprocess: str = "run"
  post_flags: dict = dataclasses.field(default_factory=dict)  # as EvalConfig's
  post: Optional[PostConfig] = None
  post_source: str = ""

  def validate(self):
    """The flags' values alone (no file is read)."""
    if not self.runs:
      _require(self, "run_dir")
    _require(self, "images", "out_dir")
    if self.threshold is not None and not 0 < self.threshold < 1:
      raise FlagError(f"--threshold={self.threshold}: must be in (0, 1)")
    if self.batch_size < 1:
      raise FlagError(f"--batch_size={self.batch_size}: must be >= 1")
    _check_post(self)
    return self

  def check_files(self):
    """The flags' paths that need no image read: the run (its newest under --runs when --run_dir is
    not given: then set here), its post-processing (--postprocess: then `post` is set), the image
    root, the checkpoint and the output folder (the run's weights: segmenter.load_run_segmenter)."""
    if not self.run_dir:
      self.run_dir = newest_segmenter_run(self.runs)
    _resolve(self)
    if self.image_root and not os.path.isdir(self.image_root):
      raise FlagError(f"--image_root={self.image_root}: no such folder")
    check_checkpoint(self.checkpoint)
    rundir.check_writable_dir(self.out_dir)
    segment_outputs.check_apart(self)
    return self
