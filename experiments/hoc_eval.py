"""Scores a hoc.py run: how many learned layers are exactly one object of the right size.

  python -m experiments.hoc_eval --logdir=runs/hoc_coins_cpu

Samples --samples independent layers from the run's last checkpoint (inference mode), thresholds each
soft mask at --threshold and labels it (8-connectivity). A layer passes when its mask is exactly one
connected blob whose area lies in the object-size range. For skimage:coins the range comes from the
24 coins of the image (region-based segmentation as in scikit-image's coins example), scaled to patch
size by (image_size / window)^2 and widened by --tolerance on both ends; for other images give
--area_range=lo,hi in px at patch scale. Beside it, what the blob score cannot see: the share of
blobs touching their layer's border, the mean alpha inside the blobs, and the colours of the carved
instances against the real objects (docs/hoc.md). Writes <logdir>/eval.json, eval/* scalars in
<logdir>/tb and <logdir>/figures/eval_masks.png.
The work is ind_prior_tf/hoc/evaluate.py's.

With --labels (a 16-bit label PNG of the true instances, or skimage:coins for the coins' region-based
segmentation) it also scores the instances experiments.hoc_instances found (--instances): count
error, AP at IoU 0.5 and the mean IoU of matched pairs (ind_prior_tf/hoc/instances/metrics.py), and
the same for the classical count it wrote beside them (baseline/<the same name>), when there is one.
"""
import dataclasses
import os
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.hoc.config import HocEvalConfig

F = cli.Flags(__doc__)
# Every flag but --labels and --instances is a field of HocEvalConfig, its default and help written
# there once.
knobs.define_config_flags(F, HocEvalConfig)
F.string("labels", None, "True instances: a 16-bit label PNG, or skimage:coins; scores --instances.")
F.string("instances", None, "Found instances, a label PNG of experiments.hoc_instances (default: "
         "the one in <logdir>/instances).")


def _main(F):
  config = HocEvalConfig(**{f.name: F[f.name].value for f in dataclasses.fields(HocEvalConfig)})
  config.validate()  # before the seconds-long TensorFlow import
  scores = classical = None
  if F.labels:  # read and scored before the blob score writes anything
    from ind_prior_tf.hoc.instances import metrics as instance_metrics  # pylint: disable=g-import-not-at-top
    found = instance_metrics.predicted_path(F.instances, config.logdir)
    scores = instance_metrics.score_files(found, F.labels)
    # The classical count experiments.hoc_instances wrote beside the instances, scored beside them.
    beside = os.path.join(os.path.dirname(found), "baseline", os.path.basename(found))
    if os.path.isfile(beside):
      classical = instance_metrics.score_files(beside, F.labels)
  from ind_prior_tf.hoc import evaluate as hoc_eval_lib  # pylint: disable=g-import-not-at-top
  score = hoc_eval_lib.evaluate(config)
  print(score.summary(), flush=True)
  print(score.looks_summary(), flush=True)
  if classical:
    from ind_prior_tf.hoc.instances import baseline  # pylint: disable=g-import-not-at-top
    print(f"{baseline.TITLE}: {instance_metrics.summary(classical)}", flush=True)
  if scores:
    print(instance_metrics.summary(scores), flush=True)


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
