"""The post-processing stage: what happens to a segmenter's masks between the network and the file.

One config (`PostConfig`, TensorFlow-free, with its validate()) and one function (`run_batch`) that
applies it to a batch of box crops; experiments.evaluate, experiments.segment, the refinement chain's
score and the Python API (ind_prior_tf.api) call that function and nothing else. In order:

  1. the network's mask, averaged over the crop's mirror image (flip_average) and over the crop moved
     by shift_average pixels left, right, up and down (segmenter.masks_of): inside TensorFlow;
  2. a dense CRF over the colours (colour_crf; crf_weight > 0), on the photo around the box when
     crf_context > 0, its surroundings as background;
  3. a guided filter with the crop as guide (guided; guided_radius > 0);
  4. GrabCut on the photo around the box, seeded by the mask, holding the pixels where the mask is
     within grabcut_sure of 0 or 1 (grabcut; grabcut_iters > 0);
  5. the floor (floor; grabcut_floor): per crop, GrabCut from the box alone replaces the mask unless
     the mask fits the crop's colours better than the cut by more than floor_margin and overlaps
     it by at least floor_agreement; over a set the network knows (the median fit gap so far at
     least floor_trust), only where the two overlap by less and the cut fits better;
  6. on a grey photo (grey_network), the network's mask: steps 2, 4 and 5 part colours, and a grey
     photo has none to part (GrabCut from the box falls below the whole box there).
Steps 2-6 are NumPy / OpenCV. Every step is ours, not the paper's (docs/paper.md).

A run carries the post-processing it was scored with: <run_dir>/postprocess.json (the refinement
chain writes it into its result), which evaluate, segment and the API apply by default
(apply_config.resolve_post).
"""
import dataclasses
import json
import os

import numpy as np

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.knobs import knob
from ind_prior_tf.postprocess import colour_crf, floor, grabcut
from ind_prior_tf.postprocess import guided_filter as guided
from ind_prior_tf.runtime import rundir, runinfo

RECIPE_FILE = runinfo.RECIPE


@dataclasses.dataclass(frozen=True)
class PostConfig:
  """What is done to a network's masks; each field made with `knob` is the flag of the same name
  (cli.define_postprocess_flags). The defaults do nothing: the network's masks as they are."""
  flip_average: bool = knob(False,
      "Not in the paper: the mean of the network's masks of each crop and of its mirror image.")
  shift_average: int = knob(0,
      "Not in the paper: > 0 takes the mean of the network's masks of each crop and of the crop "
      "moved by this many pixels (at the network's input) left, right, up and down, each moved "
      "back; with --flip_average each of the five flip-averaged.")
  crf_weight: float = knob(0.0,
      "Not in the paper: > 0 runs a dense CRF over the colours on each mask, this the strength of "
      "its pairwise term: pixels of like colour are pulled to one label, the network's mask is "
      "the unary (ind_prior_tf/postprocess/colour_crf.py; 0: off).")
  crf_sigma: float = knob(colour_crf.SIGMA,
      "With --crf_weight: the CRF's colour bandwidth on the 0-255 scale.")
  crf_iters: int = knob(colour_crf.ITERS, "With --crf_weight: the CRF's mean-field steps.")
  crf_context: float = knob(0.0,
      "With --crf_weight: > 0 runs the CRF on the photo around the box, widened by this times the "
      "box's size on each side, its pixels outside the box as background (evaluate reads the raw "
      "photos); 0: on the crop alone.")
  guided_radius: int = knob(0,
      "Not in the paper: > 0 smooths each mask with a colour guided filter of this radius (pixels "
      "of the crop at the network's size), the crop as guide, before GrabCut "
      "(ind_prior_tf/postprocess/guided_filter.py; 0: off).")
  guided_eps: float = knob(guided.EPS,
      "With --guided_radius: the filter's ridge (colours in [0, 1]); larger smooths more across "
      "weak edges.")
  grabcut_iters: int = knob(0,
      "Not in the paper: > 0 refines each mask with this many iterations of GrabCut on the photo "
      "around its box, seeded by the mask (binary masks; needs OpenCV; evaluate reads the raw "
      "photos).")
  grabcut_sure: float = knob(0.0,
      "With --grabcut_iters: > 0 holds the pixels where the mask is above 1 - this (sure "
      "foreground) or below it (sure background); GrabCut moves only the rest (0: all of the box "
      "is GrabCut's).")
  grabcut_floor: bool = knob(False,
      "Not in the paper: the floor under the steps above. Per crop, GrabCut from the box alone "
      "(the baseline) replaces the mask unless the mask fits the crop's colours better and "
      "overlaps the cut (ind_prior_tf/postprocess/floor.py; needs OpenCV and the raw photos); "
      "evaluate's per_image.csv and segment's floor.txt say where.")
  floor_margin: float = knob(floor.MARGIN,
      "With --grabcut_floor: by how much the mask's colour fit (the IoU of the mask with its "
      "redrawing by its own colour histograms) must beat the cut's; larger trusts the mask less.")
  floor_agreement: float = knob(floor.AGREEMENT,
      "With --grabcut_floor: the least IoU of the mask with the cut for the mask to stay.")
  floor_trust: float = knob(floor.TRUST,
      "With --grabcut_floor: the least median, over the crops of the set seen so far, of the "
      "mask's colour fit minus the cut's for the set to count as known to the network (default: "
      "the margin, the typical crop passes the per-crop test); then the cut replaces a mask only "
      "where they overlap by less than --floor_agreement and the cut fits better (1: never known, "
      "the per-crop rule alone).")
  grey_network: bool = knob(False,
      "Not in the paper: on a grey photo (its crop's channels equal, GREY_SPREAD) the mask is the "
      "network's: the colour CRF, GrabCut and the floor model colours, which a grey photo lacks.")

  def validate(self):
    """FlagError naming the first bad field's flag; returns self."""
    ints = dict(shift_average=0, crf_iters=1, guided_radius=0, grabcut_iters=0)
    for name, low in ints.items():
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise FlagError(f"--{name}={value}: must be a whole number >= {low}")
    for name in ("flip_average", "grabcut_floor", "grey_network"):
      if not isinstance(getattr(self, name), bool):
        raise FlagError(f"--{name}={getattr(self, name)}: must be true or false")
    for name in ("crf_weight", "crf_sigma", "crf_context", "guided_eps", "grabcut_sure",
                 "floor_margin", "floor_agreement", "floor_trust"):
      if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float)):
        raise FlagError(f"--{name}={getattr(self, name)}: must be a number")
    if self.shift_average > choices.MAX_SHIFT:
      raise FlagError(f"--shift_average={self.shift_average}: must be in [0, {choices.MAX_SHIFT}] "
                      "(pixels at the network's input)")
    if self.crf_weight < 0:
      raise FlagError(f"--crf_weight={self.crf_weight}: must be >= 0")
    if not self.crf_sigma > 0:
      raise FlagError(f"--crf_sigma={self.crf_sigma}: must be > 0")
    if not 0 <= self.crf_context <= choices.MAX_CONTEXT:
      raise FlagError(f"--crf_context={self.crf_context}: must be in [0, {choices.MAX_CONTEXT}]")
    if not self.guided_eps > 0:
      raise FlagError(f"--guided_eps={self.guided_eps}: must be > 0")
    if not 0.0 <= self.grabcut_sure < 0.5:
      raise FlagError(f"--grabcut_sure={self.grabcut_sure}: must be in [0, 0.5)")
    if not -1 <= self.floor_margin <= 1:  # a difference of two IoUs
      raise FlagError(f"--floor_margin={self.floor_margin}: must be in [-1, 1]")
    if not 0 <= self.floor_agreement <= 1:
      raise FlagError(f"--floor_agreement={self.floor_agreement}: must be in [0, 1]")
    if not -1 <= self.floor_trust <= 1:  # a median of differences of two IoUs
      raise FlagError(f"--floor_trust={self.floor_trust}: must be in [-1, 1]")
    return self

  @property
  def crf_on_photo(self):
    return bool(self.crf_weight and self.crf_iters and self.crf_context)

  @property
  def needs_photos(self):
    """Whether a step reads the photo around the box (GrabCut, the CRF on the photo)."""
    return bool(self.grabcut_iters) or self.crf_on_photo or self.grabcut_floor

  @property
  def needs_opencv(self):
    return bool(self.grabcut_iters or self.guided_radius or self.grabcut_floor)

  @property
  def after_network(self):
    """Whether any step runs after the network (the CRF, the guided filter, GrabCut, the floor)."""
    return bool(self.crf_weight and self.crf_iters) or bool(self.guided_radius) or bool(
        self.grabcut_iters) or self.grabcut_floor

  def is_identity(self):
    return self == PostConfig()

  def network_words(self):
    """How the network's masks are taken: '' (one pass), 'flip-averaged', ... ."""
    words = ["flip-averaged"] if self.flip_average else []
    if self.shift_average:
      words.append(f"shift-averaged ({self.shift_average} px)")
    return ", ".join(words)

  def describe(self):
    """One line: every step that runs, in order, with its parameters."""
    steps = [self.network_words()] if self.network_words() else []
    if self.crf_weight and self.crf_iters:
      steps.append(f"colour CRF w={self.crf_weight:g}" + (
          f" on the photo (context {self.crf_context:g})" if self.crf_context else " on the crop"))
    if self.guided_radius:
      steps.append(f"guided filter r={self.guided_radius}")
    if self.grabcut_iters:
      steps.append(f"{self.grabcut_iters} GrabCut iterations" + (
          f" holding the pixels within {self.grabcut_sure:g} of 0 or 1" if self.grabcut_sure
          else ""))
    if self.grabcut_floor:
      steps.append(f"the floor: GrabCut from the box alone unless the mask fits the colours "
                   f"better by {self.floor_margin:g} and agrees with it (IoU >= "
                   f"{self.floor_agreement:g}), on a set the network knows (median fit gap >= "
                   f"{self.floor_trust:g}) only where they disagree and the cut fits better")
    if self.grey_network and self.after_network:
      steps.append("on grey photos the network's mask")
    return ", ".join(steps) if steps else "none (the network's masks as they are)"

  def tag(self):
    """A short name that changes with every field that changes the numbers ('' for none): evaluate's
    default output folder is eval-<split>-<tag>, so that two recipes never share one."""
    d, parts = PostConfig(), []
    if self.flip_average:
      parts.append("flip")
    if self.shift_average:
      parts.append(f"shift{self.shift_average}")
    if self.crf_weight and self.crf_iters:
      crf = f"crf{self.crf_weight:g}"
      crf += f"c{self.crf_context:g}" if self.crf_context else ""
      crf += f"s{self.crf_sigma:g}" if self.crf_sigma != d.crf_sigma else ""
      crf += f"i{self.crf_iters}" if self.crf_iters != d.crf_iters else ""
      parts.append(crf)
    if self.guided_radius:
      parts.append(f"gf{self.guided_radius}" + (
          f"e{self.guided_eps:g}" if self.guided_eps != d.guided_eps else ""))
    if self.grabcut_iters:
      parts.append(f"gc{self.grabcut_iters}" + (f"s{self.grabcut_sure:g}" if self.grabcut_sure
                                                else ""))
    if self.grabcut_floor:
      parts.append(f"floor{self.floor_margin:g}a{self.floor_agreement:g}t{self.floor_trust:g}")
    if self.grey_network and self.after_network:
      parts.append("grey")
    return "-".join(parts)

  def to_dict(self):
    """The fields, but the floor's and grey_network only where they are on: a recipe without them is
    written (and reported by evaluate) exactly as before they existed."""
    values = dataclasses.asdict(self)
    if not self.grabcut_floor:
      del values["grabcut_floor"], values["floor_margin"], values["floor_agreement"]
      del values["floor_trust"]
    if not self.grey_network:
      del values["grey_network"]
    return values


FIELDS = tuple(f.name for f in dataclasses.fields(PostConfig))


def from_dict(values, where):
  """A validated PostConfig from a dict (a postprocess.json); unknown keys or bad values are a
  FlagError naming `where`. A key left out takes the field's default, which is off for every step:
  a recipe written before a step existed runs as it was scored. So does a floor written before
  floor_trust existed: it reads as floor_trust=1 (the per-crop rule alone)."""
  if not isinstance(values, dict):
    raise FlagError(f"{where}: expected a JSON object of post-processing settings")
  unknown = sorted(set(values) - set(FIELDS))
  if unknown:
    raise FlagError(f"{where}: unknown setting {unknown[0]!r}; expected some of {', '.join(FIELDS)}")
  d = PostConfig()
  if values.get("grabcut_floor") and "floor_trust" not in values:
    values = dict(values, floor_trust=1.0)
  # JSON has one number type: a whole float where an int is due (3.0) is read as the int.
  values = {k: (int(v) if isinstance(getattr(d, k), int) and not isinstance(getattr(d, k), bool)
                and isinstance(v, float) and v.is_integer() else v) for k, v in values.items()}
  try:
    return PostConfig(**values).validate()
  except FlagError as e:
    raise FlagError(f"{where}: {e}") from None


def read_file(path, flag="--postprocess"):
  try:
    with open(path) as f:
      values = json.load(f)
  except OSError as e:
    raise FlagError(f"{flag}={path}: cannot be read ({e.strerror or e})") from None
  except ValueError as e:
    raise FlagError(f"{flag}={path}: not JSON ({e})") from None
  return from_dict(values, path)


def run_recipe(run_dir):
  """The post-processing a run carries (<run_dir>/postprocess.json), or None."""
  path = runinfo.recipe_file(run_dir)
  return read_file(path, "recipe") if path else None


def write_recipe(run_dir, post):
  """Writes post as <run_dir>/postprocess.json (atomically); returns its path."""
  os.makedirs(run_dir, exist_ok=True)
  path = os.path.join(run_dir, RECIPE_FILE)
  rundir.atomic_write_text(path, json.dumps(post.to_dict(), indent=2, sort_keys=True) + "\n")
  return path


def run_batch(post, predict, crops, photos=None):
  """The stage on one batch: (the network's masks, the post-processed masks), float32 [N, S, S, 1].
  stage() also says where the floor took GrabCut from the box.

  predict: crops -> the network's masks, averaged as post says (segmenter.predict or predictor
  with post.flip_average and post.shift_average); crops: float [N, S, S, 3] in [0, 1], the box
  crops at the size the masks come in; photos: one (photo uint8 [H, W, 3], box region (x0, y0, x1,
  y1)) per crop where post.needs_photos (an iterable, read once), else None."""
  return stage(post, predict, crops, photos)[:2]


def stage(post, predict, crops, photos=None, seen=None):
  """run_batch's (network, final), and bool [N]: where the floor replaced the mask by GrabCut from
  the box (all False without post.grabcut_floor). seen: the floor's floor.SetTrust for the set these
  crops belong to (a caller that runs a set batch by batch passes one; None: the batch alone)."""
  network = np.asarray(predict(crops), np.float32)
  crops = np.asarray(crops, np.float32)
  if post.needs_photos:
    photos = list(photos)
  masks, took = network.copy(), np.zeros(len(network), bool)
  grey = (is_grey(crops) if post.grey_network and post.after_network
          else np.zeros(len(network), bool))
  # Every step after the network runs on the colour photos alone (each crop is its own): a grey one
  # keeps the network's mask, costs no CRF or GrabCut and does not count in the floor's set.
  colour = np.flatnonzero(~grey)
  if not len(colour):
    return network, masks, took
  crops, own = crops[colour], [photos[i] for i in colour] if photos is not None else None
  m = colour_crf.colour_crf_crops(crops, network[colour], post.crf_weight, post.crf_sigma,
                                  post.crf_iters, post.crf_context, own)
  m = guided.guided_filter_batch(crops, m, post.guided_radius, post.guided_eps)
  if post.grabcut_iters:
    m = grabcut.refine_masks(own, m, post.grabcut_iters, sure=post.grabcut_sure)
  m = np.asarray(m, np.float32)
  if post.grabcut_floor:
    m, took[colour] = floor.choose(crops, m, floor.box_cuts(own, m.shape[1]), post.floor_margin,
                                   post.floor_agreement, post.floor_trust, seen)
  masks[colour] = m
  return network, masks, took


# Channels that differ by at most this (colours in [0, 1]) at the 99th percentile of a crop's pixels:
# a grey photo, its JPEG's chroma noise allowed.
GREY_SPREAD = 4 / 255


def is_grey(crops):
  """bool [N]: whether each crop (float [N, S, S, 3] in [0, 1]) is grey (GREY_SPREAD)."""
  crops = np.asarray(crops, np.float32)
  spread = crops.max(-1) - crops.min(-1)
  return np.percentile(spread.reshape(len(crops), -1), 99, axis=1) <= GREY_SPREAD
