"""What one run of Application 1 (experiments.fgseg) trains and where: `FgSegConfig`, its named
`PRESETS` and the checks of its values and files. TensorFlow-free, so that the entry point reports a
bad flag or a missing file before the seconds-long TensorFlow import.

Every check raises FlagError whose message names the flag (`--area_target=2.0: must be a fraction in
(0, 1)`), so that `cli.run` reports it as one `error:` line with status 2 before anything is written.
"""
import dataclasses
import os
from typing import Optional

from ind_prior_tf import choices, rundir
from ind_prior_tf.errors import FlagError

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
  """The GAN's fields default to the paper's settings (Tables 1 and 3), but for flip (ours, on); the
  run's to the flags'. The entry point's flags default to the `cpu` preset's values instead."""
  image_size: int = 128       # Table 1
  width: float = 1.0          # UNet width multiplier
  d_width: float = 1.0        # discriminator width multiplier
  batch_size: int = 16        # global batch; the paper does not say
  lr_d: float = 2e-4
  lr_g: float = 4e-4
  beta1: float = 0.5
  beta2: float = 0.999
  area_lambda: float = 1000.0  # Table 3
  area_target: float = 0.25    # Table 3
  area_form: str = "squared"   # as printed; see losses.area_penalty for the variants
  area_floor: float = 0.0      # > 0: masks below it pay lambda * (floor - area)^2 (ours; 0 = paper)
  area_warmup: int = 0         # steps over which lambda ramps up linearly from 0 (0: constant)
  binarize_lambda: float = 0.0  # weight of mean m(1-m): pushes soft masks to 0 or 1 (ours; 0 = paper)
  tight_lambda: float = 0.0    # weight of the tight-box prior (ours; 0 = paper): see tightness_loss
  smooth_lambda: float = 0.0   # weight of the masks' total variation (ours; 0 = paper): see
                               # losses.mask_total_variation
  pairwise_lambda: float = 0.0  # weight of BoxInst's colour-affinity term (ours; 0 = paper): see
                                # losses.pairwise_affinity_loss
  unary_lambda: float = 0.0    # weight of GrabCut's colour-model term (ours; 0 = paper): see
                               # losses.colour_model_loss
  border_lambda: float = 0.0   # weight of the border prior (ours; 0 = paper): see fgseg_lib.border_loss
  upsample: str = "deconv"     # Table 1; "resize" removes checkerboard artifacts
  ema_decay: float = 0.0       # > 0: also keep an exponential moving average of the UNet (ours; 0 = paper)
  removal_lambda: float = 0.0  # weight of the removal term (ours; 0 = paper): see removal_images
  recolor: float = 0.0         # fraction of crops recoloured with their background patch (ours; 0 =
                               # paper): see augment.py
  diffaug: str = ""            # ops augmenting every image D sees, "color,translation,cutout" (ours;
                               # "" = off = paper): see diffaug.py
  flip: bool = True            # left-right flips of the real crops (pipeline) and of the background
                               # patches (ours, on as in every preset but paper's: the paper names
                               # flips only for the student)
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0
  # The run (RUN_FIELDS): the data, where it goes, how long, how often it logs, saves and scores.
  prepared: Optional[str] = None     # prepared set directory (meta.json + TFRecord shards)
  backgrounds: Optional[str] = None  # background patch pool (.npz)
  split: str = "all"
  preset: Optional[str] = None       # the name of the preset the values came from (a label)
  logdir: str = "runs/fgseg"
  steps: int = 6000
  log_every: int = 50
  save_every: int = 500
  eval_every: int = 250
  eval_count: int = 256
  in_memory: str = "auto"            # auto: when the crops fit in 1 GiB
  init_from: Optional[str] = None    # a segmenter run whose UNet a fresh run starts from
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
