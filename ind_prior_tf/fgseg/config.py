"""What one run of Application 1 (experiments.fgseg) trains and where: `FgSegConfig`, its named
`PRESETS` and the checks of its values and files. TensorFlow-free, so that the entry point reports a
bad flag or a missing file before the seconds-long TensorFlow import.

Every check raises FlagError whose message names the flag (`--area_target=2.0: must be a fraction in
(0, 1)`), so that `cli.run` reports it as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import os
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.knobs import knob
from ind_prior_tf.runtime import rundir

# Named presets: flag values that an explicit flag overrides. docs/fgseg.md explains each one and what
# it costs; docs/results.md records what it scored.
PRESETS = {
    # The paper's settings (Tables 1 and 3) for a GPU; the paper gives neither batch size nor steps.
    # The paper names no flips in adversarial training (only for the student), hence flip=False.
  "paper": dict(image_size=128, width=1.0, d_width=1.0, batch_size=16, area_lambda=1000.0,
                  area_target=0.25, area_form="squared", upsample="deconv", flip=False, steps=60000,
                  log_every=100, save_every=2000, eval_every=1000),
    # The paper's losses on a 2-core CPU: 64 px, quarter-width networks, under an hour.
    "cpu": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                area_target=0.25, area_form="squared", upsample="deconv", steps=6000,
                log_every=50, save_every=500, eval_every=250),
    # make demo: the scikit-image demo set (objects ~0.38 of their box) in a few minutes on 2 cores.
    "demo": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                 area_target=0.38, area_form="batch_squared", upsample="deconv", steps=1500,
                 log_every=50, save_every=500, eval_every=250),
    # make horse-train: the Weizmann horses on 2 CPU cores in about 5 minutes (docs/fgseg.md): the
    # CPU sizes with the area prior relaxed to the batch mean at the horses' own fraction (0.40 of the
    # box, not 0.25), resize-conv upsampling (no checkerboard), a push to binary masks, and the
    # colour and border priors of a tight box (masks along colour edges, not inverted).
    "horse-cpu": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                      area_target=0.40, area_form="batch_squared", binarize_lambda=5.0,
                      pairwise_lambda=3.0, unary_lambda=1.0, border_lambda=2.0,
                      upsample="resize", steps=2000, log_every=50, save_every=500, eval_every=250),
    # Seconds: smoke runs and the tests.
    "tiny": dict(image_size=64, width=0.125, d_width=0.125, batch_size=8, steps=200,
                 log_every=10, save_every=100, eval_every=50),
}

# Flags a preset may set; an explicitly given flag always wins.
PRESET_FLAGS = ("steps", "batch_size", "image_size", "width", "d_width", "lr_d", "lr_g",
                "area_lambda", "area_target", "area_form", "area_floor", "area_warmup",
                "binarize_lambda", "tight_lambda", "smooth_lambda", "pairwise_lambda", "unary_lambda",
                "border_lambda", "removal_lambda", "ema_decay",
                "diffaug", "upsample", "flip", "log_every", "save_every", "eval_every")

# The run's fields (after the GAN's): FgSegGAN never reads them.
RUN_FIELDS = ("prepared", "backgrounds", "split", "preset", "logdir", "steps", "log_every",
              "save_every", "eval_every", "eval_count", "in_memory", "init_from", "strategy",
              "deterministic", "max_to_keep", "progress", "overwrite")
# The run's fields flags.json records beside every GAN field: together they are the experiment a
# resumed run must match (rundir.RESUMABLE_KEYS lists those that may change).
RECORDED_RUN_FIELDS = ("prepared", "backgrounds", "split", "preset", "steps", "log_every",
                       "save_every", "eval_every", "strategy", "deterministic", "max_to_keep",
                       "logdir")
IN_MEMORY = ("auto", "yes", "no")


@dataclasses.dataclass
class FgSegConfig:
  """The GAN's fields default to the paper's settings (Tables 1 and 3), but for flip (ours, on). A
  field made with `knob` is experiments.fgseg's flag of that name, with this default and help (the
  run flags, --seed to --progress, are cli.define_run_flags'); the entry point's default preset,
  cpu, sets the sizes and run length for a 2-core CPU."""
  image_size: int = knob(128,
      "Training size, a multiple of 64 (crops are resized). The presets set it (the default "
      "preset, cpu: 64).")
  width: float = knob(1.0,
      "UNet width multiplier (1 = Table 1). The presets set it (the default preset, cpu: 0.25).")
  d_width: float = knob(1.0,
      "Discriminator width multiplier (1 = Table 1). The presets set it (the default preset, "
      "cpu: 0.25).")
  batch_size: int = knob(16, "Global batch size. The presets set it (the default preset, cpu: 32).")
  lr_d: float = knob(2e-4, "Adam learning rate of the discriminator.")
  lr_g: float = knob(4e-4, "Adam learning rate of the UNet.")
  beta1: float = 0.5
  beta2: float = 0.999
  area_lambda: float = knob(1000.0, "Weight lambda of the area penalty (Table 3: 1000).")
  area_target: float = knob(0.25, "Target area fraction a (Table 3: 0.25).")
  area_form: str = knob("squared",
      "squared: every mask pulled to a (as printed); "
      "batch_squared: only the batch mean; hinge: a cap at a; linear: a constant push to small "
      "masks.", choices.AREA_FORMS)
  area_floor: float = knob(0.0,
      "> 0: every mask below this area fraction also pays lambda * (floor - area)^2, so "
      "batch_squared cannot leave crops with empty masks (not in the paper: 0).")
  area_warmup: int = knob(0, "Steps over which lambda ramps up linearly from 0.")
  binarize_lambda: float = knob(0.0,
      "Weight of mean m(1-m), pushing soft masks to 0 or 1 (not in the paper: 0).")
  tight_lambda: float = knob(0.0,
      "Weight of the tight-box prior: every row and column of a crop by a tight box holds "
      "object (not in the paper: 0).")
  smooth_lambda: float = knob(0.0,
      "Weight of the masks' total variation (their boundary length per pixel): holes, specks "
      "and thin lines cost (not in the paper: 0).")
  pairwise_lambda: float = knob(0.0,
      "Weight of the colour-affinity term: neighbouring pixels of nearly the same colour should "
      "get the same label, so masks follow colour edges (ours, after BoxInst; not in the paper: "
      "0; losses.pairwise_affinity_loss).")
  unary_lambda: float = knob(0.0,
      "Weight of the colour-model term: each pixel should take the label whose colour "
      "histogram, fitted to its own image's soft mask, explains its colour better (ours, after "
      "GrabCut; not in the paper: 0; losses.colour_model_loss).")
  border_lambda: float = knob(0.0,
      "Weight of the border prior: the mean mask value on the crop's outermost ring, mostly "
      "background in a tight box; an inverted mask fills it (ours; not in the paper: 0; "
      "fgseg_lib.border_loss).")
  upsample: str = knob("deconv",
      "UNet decoder: transposed convs (Table 1) or resize-convs (no "
      "checkerboard).", choices.UPSAMPLES)
  ema_decay: float = knob(0.0,
      "> 0: the run's segmenter (evaluated, saved as `unet`) is an exponential moving average "
      "of the trained UNet with this decay (not in the paper).")
  removal_lambda: float = knob(0.0,
      "Weight of the removal term: a crop with its mask's region filled by a background patch "
      "must look like background to a second discriminator (not in the paper: 0; see "
      "docs/fgseg.md).")
  recolor: float = knob(0.0,
      "Fraction of crops desaturated and given a random gamma, each with the background patch "
      "it is composited over (not in the paper: 0; augment.py).")
  diffaug: str = knob("",
      "Differentiable augmentation of every image the discriminator sees, real crops and "
      "composites alike: a comma-separated subset of color, translation, cutout (ours, after "
      "DiffAugment; not in the paper: empty = off).")
  flip: bool = knob(True,
      "Left-right flips, each with probability 1/2, of the real crops and of the background "
      "patches (ours: the paper names flips only as the student's augmentation; preset paper: "
      "off).")
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0
  # The run (RUN_FIELDS): the data, where it goes, how long, how often it logs, saves and scores.
  prepared: Optional[str] = knob(None,
      "Prepared set directory (meta.json + TFRecord shards), from data_prep.cub / "
      "data_prep.celeba.")
  backgrounds: Optional[str] = knob(None, "Background patch pool (.npz from data_prep.backgrounds).")
  split: str = knob("all",
      "Crops to train on; the method needs no masks, so 'all' by default.",
      choices.SPLITS)
  preset: Optional[str] = None       # the name of the preset the values came from (a label)
  logdir: str = "runs/fgseg"
  steps: int = knob(6000, "Total training steps (a resumed run continues up to it).")
  log_every: int = 50
  save_every: int = 500
  eval_every: int = knob(250, "Steps between IoU on the masked crops and image grids (0: never).")
  eval_count: int = knob(256, "Masked crops scored every --eval_every steps.")
  in_memory: str = knob("auto",
      "Hold all crops in memory (auto: when they fit in 1 GiB) or stream the "
      "shards.", IN_MEMORY)
  init_from: Optional[str] = knob(None,
      "A segmenter run (a teacher or a distilled student) of the same image size, width and "
      "decoder whose UNet a fresh run starts from (not in the paper; ignored when resuming).")
  strategy: str = "default"
  deterministic: bool = False
  max_to_keep: int = 3
  progress: bool = True
  overwrite: bool = False

  @classmethod
  def from_preset(cls, preset, **values):
    """A preset's values under `values` (which win), with preset= recording its name."""
    if preset not in PRESETS:
      raise FlagError(f"--preset={preset}: expected one of {', '.join(PRESETS)}")
    return cls(**{**PRESETS[preset], **values, "preset": preset})

  def gan_fields(self):
    """{name: value} of the GAN's fields (every field but RUN_FIELDS)."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if f.name not in RUN_FIELDS}

  def flags_json(self):
    """What <logdir>/flags.json records: every GAN field, the recorded run fields (the data's paths
    absolute) and --init_from's run (not its checkpoint: the same command still resumes after the
    source run has saved again)."""
    record = dict(self.gan_fields(), **{n: getattr(self, n) for n in RECORDED_RUN_FIELDS})
    record.update(prepared=os.path.abspath(self.prepared),
                  backgrounds=os.path.abspath(self.backgrounds))
    if self.init_from:
      record["init_from"] = os.path.abspath(self.init_from)
    return record

  def validate(self):
    """One FlagError naming the flag for a value the networks, losses or files cannot take; returns
    self. Reads no data: the prepared set and pool themselves are checked when they are loaded."""
    for name in ("prepared", "backgrounds"):
      if not getattr(self, name):
        raise FlagError(f"--{name}: required")
    if not os.path.isfile(os.path.join(self.prepared, "meta.json")):
      raise FlagError(f"--prepared={self.prepared}: no meta.json there; run data_prep.cub or "
                      "data_prep.celeba (make *-prep) first")
    if not os.path.isfile(self.backgrounds):
      raise FlagError(f"--backgrounds={self.backgrounds}: no such file; build one with "
                      "data_prep.backgrounds (make *-prep)")
    if self.image_size < 64 or self.image_size % 64:
      raise FlagError(f"--image_size={self.image_size}: the UNet needs a positive multiple of 64")
    for name in ("width", "d_width", "lr_d", "lr_g"):
      if not 0 < getattr(self, name) <= 16:
        raise FlagError(f"--{name}={getattr(self, name)}: must be in (0, 16]")
    if not 0 <= self.area_lambda < 1e7:
      raise FlagError(f"--area_lambda={self.area_lambda}: must be >= 0")
    if not 0 < self.area_target < 1:
      raise FlagError(f"--area_target={self.area_target}: must be a fraction in (0, 1)")
    if not 0 <= self.area_floor < 1:
      raise FlagError(f"--area_floor={self.area_floor}: must be a fraction in [0, 1)")
    for name in ("steps", "batch_size", "log_every", "save_every"):
      if getattr(self, name) < 1:
        raise FlagError(f"--{name}={getattr(self, name)}: must be >= 1")
    for name in ("binarize_lambda", "tight_lambda", "smooth_lambda", "pairwise_lambda",
                 "unary_lambda", "border_lambda", "removal_lambda"):
      if not 0 <= getattr(self, name) < 1e7:
        raise FlagError(f"--{name}={getattr(self, name)}: must be >= 0")
    if not 0 <= self.recolor <= 1:
      raise FlagError(f"--recolor={self.recolor}: must be a fraction in [0, 1]")
    choices.parse_diffaug(self.diffaug)
    if not 0 <= self.ema_decay < 1:
      raise FlagError(f"--ema_decay={self.ema_decay}: must be in [0, 1)")
    for name in ("eval_every", "area_warmup"):
      if getattr(self, name) < 0:
        raise FlagError(f"--{name}={getattr(self, name)}: must be >= 0")
    for name in ("eval_count", "max_to_keep"):
      if getattr(self, name) < 1:
        raise FlagError(f"--{name}={getattr(self, name)}: must be >= 1")
    # The flags' enums check these; a config built in Python is checked here.
    for name, allowed in (("split", choices.SPLITS), ("area_form", choices.AREA_FORMS),
                          ("upsample", choices.UPSAMPLES), ("in_memory", IN_MEMORY),
                          ("strategy", choices.STRATEGIES),
                          ("mixed_precision", choices.POLICIES)):
      if getattr(self, name) not in allowed:
        raise FlagError(f"--{name}={getattr(self, name)}: expected one of {', '.join(allowed)}")
    # Before the data is loaded, not at the first write.
    rundir.check_writable_dir(self.logdir, "--logdir")
    return self
