"""Every instance of a cluster photo found, masked and counted, from a trained HOC GAN alone
(experiments.hoc_instances): the GAN's composites labelled (instances_data), an instance student
trained on them once per run (instances), then sliding-window inference on the photo
(instance_infer). Beside the count: the classical count of the photo (baseline) and the check of
the student's instances against the GAN's (trust), which experiments.hoc_auto acts on.

`CountConfig` is TensorFlow-free, so that the entry point reports a bad flag before TensorFlow's
import; `count` does the work and returns a `CountResult`.
"""
import dataclasses
import os
import time
from typing import Optional

from ind_prior_tf import choices
from ind_prior_tf.errors import FlagError
from ind_prior_tf.hoc import config as hoc_config
from ind_prior_tf.hoc.instances import baseline as cluster_baseline
from ind_prior_tf.knobs import knob


def _need(ok, message):
  if not ok:
    raise FlagError(message)


@dataclasses.dataclass
class CountConfig:
  """One count; each field made with `knob` is experiments.hoc_instances' flag."""
  hoc_run: Optional[str] = knob(None, "Run directory of experiments/hoc.py (its generator and --window).")
  image: Optional[str] = knob(None,
      "The photo: a path, or skimage:<name> (default: the run's own image).")
  window: Optional[int] = knob(None,
      "Window in px of the photo (default: the run's --window, ~1.5x the largest instance).")
  stride: Optional[int] = knob(None,
      "Window stride in px (default window // 4: every instance lies whole inside some window, "
      "away from its edges).")
  out: Optional[str] = knob(None, "Output directory (default <hoc_run>/instances).")
  student_dir: Optional[str] = knob(None,
      "The instance student's run directory (default <hoc_run>/instance_student).")
  samples: int = knob(4096, "Labelled composites the student learns from.")
  steps: int = knob(1000, "Student training steps (a trained student is reused; more resumes it).")
  batch_size: int = knob(16, "Student batch.")
  width: float = knob(0.5, "Student width multiplier (1: 32-256 channels).")
  lr: float = knob(1e-3, "Student Adam learning rate.")
  min_visible: float = knob(0.5,
      "An instance less visible than this share of its mask is not labelled (its pixels ignored).")
  max_cut: float = knob(0.1,
      "An instance with more than this share of its mask outside the window is not labelled (its "
      "pixels ignored).")
  prominence: float = knob(0.3,
      "A maximum of the centreness seeds an instance when it rises this much above the saddle to "
      "a higher one.")
  smooth: float = knob(0.03, "Gaussian smoothing of the centreness before the seeds, in windows.")
  min_area: float = knob(0.01, "Instances smaller than this share of the window's area are dropped.")
  seed: int = knob(0, "Seed of the composites and the student.")
  polarity: str = knob("auto",
      "Objects brighter (bright) or darker (dark) than the ground, for the classical count beside "
      "the student's and the check of its instances; auto reads it from the photo.",
      choices.POLARITIES)
  jit: bool = knob(True, "XLA-compile the student's train step.")
  overwrite: bool = knob(False, "Retrain the student from scratch.")
  progress: bool = knob(True, "Show a progress bar.")

  def validate(self):
    """The flags' values and the run's flags.json; no image is read. Returns self."""
    _need(bool(self.hoc_run), "--hoc_run: required (a run directory of experiments/hoc.py)")
    for name in ("samples", "steps", "batch_size"):
      _need(getattr(self, name) >= 1, f"--{name}={getattr(self, name)}: must be >= 1")
    for name in ("width", "lr"):
      _need(getattr(self, name) > 0, f"--{name}={getattr(self, name)}: must be > 0")
    for name in ("min_visible", "max_cut", "prominence", "smooth", "min_area"):
      value = getattr(self, name)
      _need(0 <= value < 1, f"--{name}={value}: must be a fraction in [0, 1)")
    _need(self.polarity in choices.POLARITIES,
          f"--polarity={self.polarity}: expected one of {', '.join(choices.POLARITIES)}")
    _need(self.window is None or self.window >= 4, f"--window={self.window}: must be at least 4 px")
    _need(self.stride is None or self.stride >= 1, f"--stride={self.stride}: must be at least 1 px")
    run = self.read_run()
    self.window = self.window or int(run["window"])
    self.stride = self.stride or max(1, self.window // 4)
    self.image = self.image or run["image"]
    return self

  def read_run(self):
    """The HOC run's flags.json; FlagError naming --hoc_run when it holds no HOC run."""
    return hoc_config.read_hoc_run(self.hoc_run, "--hoc_run", needs=("z_dim", "window"))

  def out_dir(self):
    return self.out or os.path.join(self.hoc_run, "instances")

  def student_path(self):
    return self.student_dir or os.path.join(self.hoc_run, "instance_student")

  def student_flags(self, run, checkpoint):
    """What <student_dir>/flags.json holds: a student trained on other data or settings is refused."""
    names = ("samples", "steps", "batch_size", "width", "lr", "min_visible", "max_cut", "seed", "jit")
    return dict({n: getattr(self, n) for n in names}, hoc_checkpoint=os.path.abspath(checkpoint),
                image_size=int(run.get("image_size", 64)))


@dataclasses.dataclass
class CountResult:
  count: int
  image: str
  paths: dict
  seconds: float          # from the photo to the count (windows, stitching, watershed, files)
  student: dict           # the student's training result (step, status, checkpoint, seconds)
  data_seconds: float     # labelled composites, 0 when the student was already trained
  labels: object = None    # int32 labels [H, W] of the student's instances (paths['labels'])
  baseline: object = None  # int32 labels [H, W] of the classical count (baseline.baseline_labels)
  trust: object = None     # trust.Trust of the student's instances
  check_seconds: float = 0.0  # the classical count and the check

  def summary(self):
    return (f"{self.count} instances in {self.image} ({self.seconds:.1f} s): {self.paths['labels']}, "
            f"{self.paths['overlay']}, {self.paths['csv']}")

  def check_lines(self):
    """The check of the student's instances, the classical count beside it, and the count."""
    verdict = "trusted" if self.trust.trusted else (
        f"NOT trusted, the classical count is {int(self.baseline.max())}")
    return [f"check of the instances: {self.trust.summary()}",
            f"{cluster_baseline.TITLE}: {int(self.baseline.max())} instances",
            f"count: {self.count} (the GAN's instance student, {verdict})"]


def train_student(config, run, log=print):
  """Trains (or resumes, or reuses) the run's instance student; returns (student, result, data s)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from ind_prior_tf.data import images
  from ind_prior_tf.hoc import gan as hoc_lib
  from ind_prior_tf.hoc.instances import data as instances_data
  from ind_prior_tf.hoc.instances import student as instances
  from ind_prior_tf.runtime import rundir, training
  model = hoc_lib.run_model(run)
  checkpoint = tf.train.latest_checkpoint(os.path.join(config.hoc_run, "ckpt"))
  if not checkpoint:
    raise FlagError(f"--hoc_run={config.hoc_run}: no checkpoint under ckpt/ yet")
  logdir = config.student_path()
  if config.overwrite:
    rundir.fresh_start(logdir, ("ckpt", "tb"))
  rundir.prepare_logdir(logdir, config.student_flags(run, checkpoint), overwrite=config.overwrite,
                        kind="instances")
  training.set_determinism(config.seed, False)
  student = instances.InstanceStudent(instances.StudentConfig(
      image_size=model.image_size, width=config.width, batch_size=config.batch_size, lr=config.lr,
      hflip=bool(run.get("hflip")), vflip=bool(run.get("vflip")), jit=config.jit, seed=config.seed))
  if rundir.saved_step(logdir)[0] >= config.steps:  # trained already: no composites needed
    return student, instances.train(student, None, None, logdir, config.steps, log=lambda _: None), 0.0
  t0 = time.time()
  gan = hoc_lib.restored_gan(model, checkpoint)
  _, backgrounds = hoc_lib.training_pools(
      images.load_image_spec(run["image"]), run["window"], run["stride"], model,
      run.get("hflip", False), run.get("vflip", False))
  # No real object shows through a black, ground-coloured or painted-out background: all of it is
  # known ground.
  known = instances_data.disk_region(
      model.image_size,
      None if model.background in ("black", "ground", "photo") else model.disk_radius)
  # Specks: min_area of the window's area, at patch scale (as instance_infer drops them).
  min_area = config.min_area * model.image_size ** 2
  x, y, counts = instances_data.make_dataset(
      instances_data.gan_sampler(gan, backgrounds, config.seed),
      config.samples, known, min_visible=config.min_visible, max_cut=config.max_cut,
      min_area=min_area)
  data_seconds = time.time() - t0
  log(f"{len(x)} labelled composites from {checkpoint} ({data_seconds:.0f} s): "
      f"{counts.mean():.2f} instances each, {1 - y[..., 2].mean() / 255:.2f} of pixels ignored; "
      f"student in {logdir}")
  return student, instances.train(student, x, y, logdir, config.steps, progress=config.progress,
                                  log=log), data_seconds


def check(image, labels, config, est=None):
  """(classical labels int32 [H, W], trust.Trust): the photo's classical count (its objects' side
  and size read from it, config.polarity, unless the caller read them already: `est`) and the check
  of the student's `labels` against the instances of config.hoc_run's GAN, read in config.window px
  windows."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from ind_prior_tf.hoc import gan as hoc_lib
  from ind_prior_tf.hoc.instances import estimate as cluster_estimate
  from ind_prior_tf.hoc.instances import trust as count_trust
  est = est or cluster_estimate.estimate(image, config.polarity)
  baseline = cluster_baseline.baseline_labels(image, est.polarity, est.radius, est.context)
  gan = hoc_lib.restored_gan(hoc_lib.run_model(config.read_run()),
                             tf.train.latest_checkpoint(os.path.join(config.hoc_run, "ckpt")))
  reference = count_trust.gan_reference(gan.sample_instances(512, seed=config.seed), config.window)
  trust = count_trust.check(cluster_estimate.to_gray(image), labels,
                            cluster_estimate.object_side(image, est), reference)
  return baseline, trust


def count_image(network, image, config, model_size):
  """(labels int32 [H, W], seconds): the instances of uint8 image [H, W, 3]."""
  from ind_prior_tf.hoc.instances import infer as instance_infer  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.hoc.instances import student as instances
  t0 = time.time()
  maps = instance_infer.stitched_maps(image, instances.predictor(network), config.window,
                                      config.stride, model_size)
  labels = instance_infer.instances_from_maps(maps, config.window, config.prominence,
                                              config.smooth, config.min_area)
  return labels, time.time() - t0


def count(config, log=print, baseline_out=None, est=None):
  """experiments.hoc_instances' work (config: a validated CountConfig): trains the student if needed,
  counts the instances of config.image and writes the label PNG, the overlay and the CSV; the same
  files of the classical count go to `baseline_out` (default <out>/baseline), where
  experiments.hoc_eval --labels finds them to score them beside. `est`: the photo's
  cluster_estimate.Estimate when the caller has it (else read here, for the check)."""
  from ind_prior_tf.data import images  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.hoc.instances import infer as instance_infer  # pylint: disable=g-import-not-at-top
  run = config.read_run()
  image = images.load_image_spec(config.image)  # a bad --image fails before any training
  student, result, data_seconds = train_student(config, run, log)
  if result["status"] == "interrupted":  # the student's step is saved; cli.run reports it, 130
    raise KeyboardInterrupt
  t0 = time.time()
  labels, _ = count_image(student.network, image, config, int(run.get("image_size", 64)))
  stem = os.path.splitext(os.path.basename(config.image.replace("skimage:", "")))[0]
  paths = instance_infer.write_outputs(config.out_dir(), stem, image, labels)
  seconds = time.time() - t0
  t0 = time.time()
  baseline, trust = check(image, labels, config, est)
  instance_infer.write_outputs(baseline_out or os.path.join(config.out_dir(), "baseline"), stem,
                               image, baseline)
  return CountResult(int(labels.max()), config.image, paths, seconds, result, data_seconds,
                     labels, baseline, trust, time.time() - t0)
