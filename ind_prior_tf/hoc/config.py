"""The second application's settings: the model (`HocConfig`, Table 4's presets), one training run of
experiments.hoc (`HocRun`: the model, the patches of one image, the run's length and cadence, its
directory) and one blob score of experiments.hoc_eval (`HocEvalConfig`). TensorFlow-free, so that the
entry points report a bad flag before the seconds-long TensorFlow import.

Every check raises FlagError whose message names one flag (`--disk_radius=100.0: ...`), which
`cli.run` reports as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import os
from typing import Optional

from ind_prior_tf import choices, cli
from ind_prior_tf.data import pools
from ind_prior_tf.errors import FlagError, RunError
from ind_prior_tf.knobs import knob
from ind_prior_tf.runtime import rundir, runinfo

Q_INPUTS = ("carved", "composite", "carved_gray")
# photo (ours): patches of the photo with its objects painted out by its own ground
# (cluster_estimate.ground_image), for a ground that is neither flat nor black.
BACKGROUNDS = ("disk", "black", "median_disk", "ground", "photo")
COLORS = ("rgb", "gray", "auto")  # auto: gray for a grey photo (its channels equal), else rgb

# Table 4, plus the offline coins presets. Data keys (window, stride, flips) describe the patches; the
# rest are HocConfig fields. The paper's images are not distributed: crowd/fruit/seed take --image and
# --window (about 1.5x the width of the largest instance, in px of the image).
PRESETS = {
    "crowd": dict(n_layers=8, area_lambda=1000.0, z_dim=6, area_target=0.1, beta=50.0, pad=30,
                  hflip=False, vflip=False, steps=30000),
    "fruit": dict(n_layers=10, area_lambda=1000.0, z_dim=5, area_target=0.25, beta=50.0, pad=32,
                  hflip=True, vflip=True, steps=30000),
    "seed": dict(n_layers=12, area_lambda=1000.0, z_dim=2, area_target=0.25, beta=50.0, pad=26,
                 hflip=True, vflip=True, steps=30000),
    # skimage.data.coins(): 24 coins of 35-65 px on a dark table. Window 96 = 1.5x the largest coin
    # (65 px); at 64/96 scale the coins cover 0.12-0.34 of a patch (mean 0.18), hence a = 0.18.
    # Coins are isotropic, so both flips are fair augmentation.
    "coins": dict(image="skimage:coins", window=96, stride=8, hflip=True, vflip=True, n_layers=5,
                  z_dim=4, area_lambda=1000.0, area_target=0.18, beta=50.0, pad=32, steps=20000),
    # A quarter-width version for 2 CPU cores (minutes): resize-conv upsampling, because with Table 2's
    # transposed convs the masks stayed diffuse checkered clouds at this width; our support and binary
    # mask priors, because without them the layers were half-disks cut by their left edge in a faint
    # haze. The coins leave their table visible, unlike the paper's dense clusters: over real pixels
    # or a black disk the instances took the table's darkness, so the ground is one flat colour
    # (--background=ground) and the composites' pixel values are matched to the real ones
    # (--hist_lambda); 2 layers of a = 0.15, about the coins' density (docs/hoc.md).
    "coins_cpu": dict(image="skimage:coins", window=96, stride=8, hflip=True, vflip=True, n_layers=2,
                      z_dim=5, area_lambda=1000.0, area_target=0.15, beta=50.0, pad=32, width=0.25,
                      d_width=0.25, batch_size=16, upsample="resize", support_lambda=50.0,
                      binary_lambda=20.0, background="ground", hist_lambda=30.0, color="auto",
                      steps=1000),
    # For a photo nobody tuned on (experiments.hoc_auto): coins_cpu's model, losses and length, over
    # the photo's own ground (background=photo) instead of a flat one; the window, a and the layers
    # are read from the photo (cluster_estimate), so the preset names none.
    "auto_cpu": dict(hflip=True, vflip=True, n_layers=2, z_dim=5, area_lambda=1000.0,
                     area_target=0.15, beta=50.0, pad=32, width=0.25, d_width=0.25, batch_size=16,
                     upsample="resize", support_lambda=50.0, binary_lambda=20.0,
                     background="photo", hist_lambda=30.0, color="auto", steps=1000),
}


def _need(ok, message):
  if not ok:
    raise FlagError(message)


def _at_least(name, value, low):
  _need(value >= low, f"--{name}={value}: must be >= {low}")


@dataclasses.dataclass
class HocConfig:
  """The model and its optimisation: what HocGAN builds and flags.json records. A field made with
  `knob` is experiments.hoc's flag of that name, with this default and help."""
  n_layers: int = knob(8, "Composition layers N (Table 4).")
  z_dim: int = knob(6, "dim z per layer (Table 4).")
  area_lambda: float = knob(1000.0, "Weight lambda of the area penalty (Table 4: 1000).")
  area_target: float = knob(0.1, "Target mask area fraction a (Table 4).")
  area_form: str = knob("squared",
      "squared: every mask pulled to a (eq. 7 as printed); batch_squared: only the batch mean; "
      "hinge: a cap at a; linear: a constant push to small masks.", choices.AREA_FORMS)
  beta: float = knob(50.0, "Weight beta of the InfoGAN information term (Table 4: 50).")
  q_input: str = knob("carved",
      "What Q reads: each layer's carved instance (regresses its own z), the composite (regresses "
      "all N codes), or the carved instance's grey levels (ours); see docs/hoc.md.", Q_INPUTS)
  # Additions to the paper, off by default (docs/hoc.md, "Additions"): penalties on each instance's
  # alpha outside its support disk (an object off-centre or cut by its frame) and on soft alpha.
  support_lambda: float = knob(0.0,
      "Weight of the mean alpha outside each instance's centred disk of radius image_size / 3, "
      "against off-centre and cut objects (ours; 0 = off, as in the paper).")
  binary_lambda: float = knob(0.0,
      "Weight of the mean m (1 - m) of the masks, against faint masks (ours; 0 = off, as in the "
      "paper).")
  # Ours, off by default: the composites' centre-disk pixel values matched in distribution to the
  # real patches' (losses.quantile_loss), so that the instances take the objects' colours.
  hist_lambda: float = knob(0.0,
      "Weight of the distance between the sorted pixel values of the composites' and the real "
      "patches' centre disks, per channel (ours; 0 = off, as in the paper).")
  pad: int = knob(30,
      "Layout padding P in px: each layer moves by up to P (the appendix's layout paragraph).")
  image_size: int = knob(64, "Patch and layer size, a multiple of 16 (paper: 64).")
  width: float = knob(1.0, "Generator and Q width multiplier (1 = Table 2).")
  d_width: float = knob(1.0, "Discriminator width multiplier (1 = Table 2).")
  batch_size: int = knob(64, "Global batch of composites.")
  lr_d: float = knob(2e-4, "Adam learning rate of D.")
  lr_g: float = knob(4e-4, "Adam learning rate of G and Q.")
  beta1: float = knob(0.5, "Adam beta1.")
  beta2: float = knob(0.999, "Adam beta2.")
  upsample: str = knob("deconv",
      "Generator upsampling: transposed convs (Table 2) or resize-convs.", choices.UPSAMPLES)
  background: str = knob("disk",
      "Backgrounds: real patches with a black centre disk (paper's choice), pure black, or (ours) "
      "the disk filled with the median colour of the patch around it (median_disk) or the whole "
      "patch filled with its median colour (ground), for objects on a visible ground such as "
      "coins on a table, or the photo with its objects painted out by its own ground (photo; "
      "experiments.hoc_auto's) (docs/hoc.md).", BACKGROUNDS)
  color: str = knob("rgb",
      "Ours: gray ties the generator's three colour channels (a grey photo); auto picks gray when "
      "the photo's channels are equal, else rgb (the paper's).", COLORS)
  disk_radius: float = knob(20.0, "Radius of the centre disk in px at --image_size.")
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0

  def validate(self):
    """Raises FlagError with a one-line message naming the bad field's flag."""
    _need(self.n_layers >= 1, f"--n_layers={self.n_layers}: must be at least 1")
    _need(self.z_dim >= 1, f"--z_dim={self.z_dim}: must be at least 1")
    _need(self.image_size >= 16 and self.image_size % 16 == 0,
          f"--image_size={self.image_size}: must be a positive multiple of 16 (the discriminator)")
    _at_least("pad", self.pad, 0)
    for name in ("width", "d_width", "lr_d", "lr_g"):
      _need(getattr(self, name) > 0, f"--{name}={getattr(self, name)}: must be > 0")
    _need(self.batch_size >= 1, f"--batch_size={self.batch_size}: must be at least 1")
    _need(0.0 <= self.area_target <= 1.0,
          f"--area_target={self.area_target}: a mask area fraction, in [0, 1]")
    _at_least("area_lambda", self.area_lambda, 0)
    _at_least("beta", self.beta, 0)
    _at_least("support_lambda", self.support_lambda, 0)
    _at_least("binary_lambda", self.binary_lambda, 0)
    _at_least("hist_lambda", self.hist_lambda, 0)
    _need(self.area_form in choices.AREA_FORMS,
          f"--area_form={self.area_form!r}: expected one of {', '.join(choices.AREA_FORMS)}")
    _need(self.q_input in Q_INPUTS, f"--q_input={self.q_input!r}: expected one of {Q_INPUTS}")
    _need(self.background in BACKGROUNDS,
          f"--background={self.background!r}: expected one of {BACKGROUNDS}")
    _at_least("disk_radius", self.disk_radius, 0)
    _need(self.color in COLORS, f"--color={self.color!r}: expected one of {COLORS}")
    # A disk wider than the patch leaves no real pixel: --background=black by another name.
    _need(self.background == "black" or self.disk_radius <= self.image_size / 2,
          f"--disk_radius={self.disk_radius}: must be at most {self.image_size / 2:g} (half the "
          f"{self.image_size} px patch), so that real pixels remain around the disk")
    _need(self.upsample in choices.UPSAMPLES,
          f"--upsample={self.upsample!r}: expected deconv or resize")
    _need(self.mixed_precision in choices.POLICIES,
          f"--mixed_precision={self.mixed_precision!r}: expected one of "
          f"{', '.join(choices.POLICIES)}")
    return self


def config_fields():
  return [f.name for f in dataclasses.fields(HocConfig)]


DATA_FLAGS = ("image", "window", "stride", "hflip", "vflip")
RUN_FLAGS = ("steps", "log_every", "save_every", "image_every")
WINDOW_HELP = "px, about 1.5x the width of the largest instance"


@dataclasses.dataclass
class HocRun:
  """One training run of experiments.hoc: the model, where its real patches come from, how long it
  trains and where it is written. A field made with `knob` is experiments.hoc's flag of that name,
  with this default and help."""
  config: HocConfig
  preset: str = knob("coins",
      "crowd, fruit, seed (Table 4, with --image and --window), coins (the offline default), "
      "coins_cpu or auto_cpu (with --image and --window; experiments.hoc_auto sets them from the "
      "photo); explicit flags override it.")
  image: Optional[str] = knob(None,
      "The training image: a path, or skimage:coins (bundled, offline). Default: the preset's "
      "image (coins presets only).")
  window: Optional[int] = knob(None,
      "Patch window in px of the image, ~1.5x the width of the largest instance (coins presets: "
      "96).")
  stride: Optional[int] = knob(None, "Patch grid stride in px (default window // 8).")
  hflip: bool = knob(False, "Add left-right flipped patches (fruit, seed, coins presets: on).")
  vflip: bool = knob(False, "Add up-down flipped patches (fruit, seed, coins presets: on).")
  steps: int = knob(20000, "Total training steps (a resumed run continues up to it).")
  log_every: int = 50
  save_every: int = 500
  image_every: int = knob(500, "Steps between figures (0: only at the end).")
  max_to_keep: int = 3
  strategy: str = "default"
  deterministic: bool = False
  overwrite: bool = False
  progress: bool = True
  logdir: Optional[str] = knob(None, "Run directory: flags.json, ckpt/, tb/, figures/, metrics.jsonl.")
  name: Optional[str] = knob(None, "Run name: the default --logdir is $RUNS/hoc_<name or preset>.")

  def validate(self):
    """The flags' values and where the run goes; no image is read."""
    self.config.validate()
    _need(bool(self.image), "--image: required (a path, or skimage:coins)")
    _need(self.window is not None, f"--window: required ({WINDOW_HELP})")
    if self.stride is None:
      self.stride = pools.default_stride(self.window)
    for name in ("steps", "log_every", "save_every", "stride", "max_to_keep"):
      _at_least(name, getattr(self, name), 1)
    _at_least("image_every", self.image_every, 0)
    _need(self.strategy in choices.STRATEGIES,
          f"--strategy={self.strategy}: expected one of {', '.join(choices.STRATEGIES)}")
    rundir.check_writable_dir(self.run_dir(), "--logdir")
    return self

  def run_dir(self):
    return self.logdir or cli.default_logdir(f"hoc_{self.name or self.preset}")

  def image_spec(self):
    """The image as flags.json records it: skimage:<name>, or an absolute path."""
    return self.image if self.image.startswith("skimage:") else os.path.abspath(self.image)

  def flags_json(self, patches):
    """What <logdir>/flags.json holds (its keys are those old runs resume with)."""
    return dict(dataclasses.asdict(self.config), preset=self.preset, image=self.image_spec(),
                **{n: getattr(self, n) for n in DATA_FLAGS[1:] + RUN_FLAGS},
                strategy=self.strategy, deterministic=self.deterministic,
                max_to_keep=self.max_to_keep, logdir=self.run_dir(), patches=patches)


@dataclasses.dataclass
class HocEvalConfig:
  """One blob score of a HOC run; each field made with `knob` is experiments.hoc_eval's flag."""
  logdir: Optional[str] = knob(None, "Run directory of experiments/hoc.py.")
  samples: int = knob(1024, "Layers sampled.")
  threshold: float = knob(0.5, "Mask threshold.")
  tolerance: float = knob(0.25, "Relative widening of the coin-size range on both ends.")
  area_range: Optional[str] = knob(None, "lo,hi: object size in px at patch scale (non-coins images).")
  min_speck: int = knob(0, "Ignore mask components smaller than this many px (0: strict).")
  seed: int = knob(0, "Seed of the sampled codes.")

  def validate(self):
    """The flags' values alone (no file is read)."""
    _need(bool(self.logdir), "--logdir: required (a run directory of experiments/hoc.py)")
    _need(self.samples >= 1, f"--samples={self.samples}: must be >= 1")
    _need(0 < self.threshold < 1, f"--threshold={self.threshold}: must be in (0, 1)")
    _at_least("tolerance", self.tolerance, 0)
    _at_least("min_speck", self.min_speck, 0)
    self.given_range()
    return self

  def given_range(self):
    """(lo, hi) of --area_range, or None."""
    if not self.area_range:
      return None
    try:
      lo, hi = (float(x) for x in self.area_range.split(","))
    except ValueError:
      raise FlagError(f"--area_range={self.area_range}: expected lo,hi (px)") from None
    _need(0 <= lo <= hi, f"--area_range={self.area_range}: expected 0 <= lo <= hi (px)")
    return lo, hi

  def read_run(self):
    """The run's flags.json; FlagError when --logdir holds no HOC run."""
    return read_hoc_run(self.logdir, "--logdir")


def read_hoc_run(run_dir, flag, needs=("z_dim",)):
  """The flags.json of a run of experiments/hoc.py, checked to hold `needs`; FlagError naming `flag`
  when run_dir holds no such run."""
  path = runinfo.flags_path(run_dir)
  if not os.path.isfile(path):
    raise FlagError(f"{path}: missing; {flag}={run_dir} has no flags.json, so it is no run of "
                    "experiments/hoc.py")
  try:
    run = runinfo.read_flags(run_dir)
  except RunError as e:
    raise FlagError(str(e)) from None
  if not runinfo.is_generator(run) or any(k not in run for k in needs):
    raise FlagError(f"{flag}={run_dir}: not a hoc.py run (its flags.json has no "
                    f"{' or '.join(needs)})")
  return run
