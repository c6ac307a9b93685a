"""Counting on a photo nobody tuned on (experiments.hoc_auto, `make hoc-count HOC_IMAGE=<photo>`):
settings read from the photo (cluster_estimate), a CPU-sized HOC run over the photo's own ground
(the auto_cpu preset), its instance student (hoc_count), the classical count beside it
(cluster_baseline), and a check of the student's instances against the GAN's and the ground
(count_trust). The count given is the student's when the check trusts it, else the classical one,
and the output says which and why.

`AutoConfig` is TensorFlow-free, so that a bad flag is reported before TensorFlow's import.
"""
import dataclasses
import json
import math
import os
import platform
import time
from typing import Optional

from ind_prior_tf import choices, cli
from ind_prior_tf.errors import FlagError
from ind_prior_tf.hoc.instances import baseline as cluster_baseline
from ind_prior_tf.knobs import knob

MAX_POSITIONS = 2500  # window positions of the HOC run's patches (x4 with both flips): memory, time


@dataclasses.dataclass
class AutoConfig:
  """One count of a photo; each field made with `knob` is experiments.hoc_auto's flag."""
  image: Optional[str] = knob(None, "The photo: a path, or skimage:<name>.")
  logdir: Optional[str] = knob(None, "Run directory (default $RUNS/hoc_auto_<photo's name>).")
  labels: Optional[str] = knob(None,
      "True instances (a 16-bit label PNG, or skimage:coins), to score counts.")
  polarity: str = knob("auto",
      "Objects brighter (bright) or darker (dark) than the ground; auto reads it from the photo.",
      choices.POLARITIES)
  steps: int = knob(1000, "HOC training steps.")
  count_steps: int = knob(1000, "Instance student steps.")
  samples: int = knob(4096, "Labelled composites the student learns from.")
  seed: int = knob(0, "Seed of the HOC run, the composites and the student.")
  progress: bool = knob(True, "Show progress bars.")
  # Not flags: smaller models for the tests (HocConfig fields; CountConfig fields).
  hoc_overrides: dict = dataclasses.field(default_factory=dict)
  count_overrides: dict = dataclasses.field(default_factory=dict)

  def validate(self):
    if not self.image:
      raise FlagError("--image: required (a path, or skimage:<name>)")
    if self.polarity not in choices.POLARITIES:
      raise FlagError(f"--polarity={self.polarity}: expected one of "
                      f"{', '.join(choices.POLARITIES)}")
    for name in ("steps", "count_steps", "samples"):
      if getattr(self, name) < 1:
        raise FlagError(f"--{name}={getattr(self, name)}: must be >= 1")
    return self

  def stem(self):
    return os.path.splitext(os.path.basename(self.image.replace("skimage:", "")))[0]

  def run_dir(self):
    return self.logdir or cli.default_logdir(f"hoc_auto_{self.stem()}")


def cpu_name():
  """The CPU's model name (lscpu's), for the record."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def hoc_run(config, est, shape):
  """The hoc_config.HocRun of the auto_cpu preset with est's window, a and layers."""
  from ind_prior_tf.hoc import config as hoc_config  # pylint: disable=g-import-not-at-top
  preset = dict(hoc_config.PRESETS["auto_cpu"])
  data = {k: preset.pop(k) for k in ("hflip", "vflip", "steps")}
  model = hoc_config.HocConfig(**dict(preset, area_target=round(est.area_target, 4),
                                      n_layers=est.n_layers, seed=config.seed,
                                      **config.hoc_overrides))
  h, w = shape[:2]
  stride = max(1, est.window // 8, math.ceil(math.sqrt((h - est.window + 1) * (w - est.window + 1)
                                                       / MAX_POSITIONS)))
  return hoc_config.HocRun(model, preset="auto_cpu", image=config.image, window=est.window,
                           stride=stride, hflip=data["hflip"], vflip=data["vflip"],
                           steps=config.steps, save_every=config.steps, image_every=config.steps,
                           progress=config.progress, logdir=config.run_dir()).validate()


def count(config, log=print):
  """The whole path for config (a validated AutoConfig); returns the report (count.json's)."""
  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import images
  from ind_prior_tf.hoc import gan as hoc_lib
  from ind_prior_tf.hoc.instances import count as hoc_count
  from ind_prior_tf.hoc.instances import estimate as cluster_estimate
  from ind_prior_tf.hoc.instances import infer as instance_infer
  from ind_prior_tf.hoc.instances import metrics as instance_metrics
  t_start = time.time()
  image = images.load_image_spec(config.image)
  truth = instance_metrics.truth_labels(config.labels) if config.labels else None
  if truth is not None and truth.shape != image.shape[:2]:
    raise FlagError(f"--labels={config.labels}: {truth.shape[1]}x{truth.shape[0]} px, the image "
                    f"is {image.shape[1]}x{image.shape[0]}")
  est = cluster_estimate.estimate(image, config.polarity)
  log(f"estimate: {est.summary()}")
  run = hoc_run(config, est, image.shape)
  t0 = time.time()
  result = hoc_lib.train_run(run, log=log)
  if result["status"] == "interrupted":
    raise KeyboardInterrupt
  hoc_seconds = time.time() - t0
  out = os.path.join(run.run_dir(), "instances")
  t0 = time.time()
  student = hoc_count.count(hoc_count.CountConfig(
      hoc_run=run.run_dir(), image=config.image, out=os.path.join(out, "student"),
      steps=config.count_steps, samples=config.samples, seed=config.seed,
      polarity=config.polarity, progress=config.progress, **config.count_overrides).validate(),
      log=log, baseline_out=os.path.join(out, "baseline"), est=est)
  student_seconds = time.time() - t0 - student.check_seconds
  student_labels, baseline, trust = student.labels, student.baseline, student.trust
  final = student_labels if trust.trusted else baseline
  paths = instance_infer.write_outputs(out, config.stem(), image, final)
  report = dict(image=config.image, cpu=cpu_name(), estimate=dataclasses.asdict(est),
                hoc_run=run.run_dir(), student_count=int(student_labels.max()),
                baseline_count=int(baseline.max()), trust=trust.as_dict(),
                source="student" if trust.trusted else "baseline", count=int(final.max()),
                seconds=dict(hoc=round(hoc_seconds, 1), student=round(student_seconds, 1),
                             check=round(student.check_seconds, 1),
                             total=round(time.time() - t_start, 1)), paths=paths)
  if truth is not None:
    report["scores"] = {name: instance_metrics.instance_scores(labels, truth)
                        for name, labels in (("student", student_labels), ("baseline", baseline),
                                             ("final", final))}
  with open(os.path.join(run.run_dir(), "count.json"), "w") as f:
    json.dump(report, f, indent=2)
  return report, trust


def summary_lines(report, trust):
  """What experiments.hoc_auto prints at the end, the count last."""
  lines = [f"GAN instance student: {report['student_count']} instances, {trust.summary()}",
           f"{cluster_baseline.TITLE}: {report['baseline_count']} instances"]
  for name, s in report.get("scores", {}).items():
    lines.append(f"{name}: {instance_metrics_summary(s)}")
  source = ("the GAN's instance student" if report["source"] == "student" else
            "the classical baseline, because the student's count is not trusted")
  lines.append(f"{report['seconds']['total']:.0f} s on {report['cpu']}; instances: "
               f"{report['paths']['labels']}, {report['paths']['overlay']}")
  lines.append(f"count: {report['count']} (from {source})")
  return lines


def instance_metrics_summary(scores):
  from ind_prior_tf.hoc.instances import metrics as instance_metrics  # pylint: disable=g-import-not-at-top
  return instance_metrics.summary(scores)
