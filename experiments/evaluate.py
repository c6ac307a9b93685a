"""Scores a trained segmenter (a fgseg teacher or a distilled student) on the masks of a prepared set.

  python -m experiments.evaluate --run_dir=runs/horse --prepared=prepared/horse --split=train

Protocol (docs/fgseg.md): the crops of the prepared set (box crops, resized to its size) go through the
segmenter at its training size; its soft masks are resized back to the crops' size and binarised at
0.5, as are the ground-truth masks. Prints and writes to <out_dir>/scores.json the mean per-image
foreground IoU, the dataset mIoU (foreground and background IoU from summed intersections and unions)
and the pixel accuracy; writes per_image.csv and cases.png (the best cases left, the worst right; each
input / ground truth / soft mask / carved foreground). The masks go through the run's own
post-processing (its postprocess.json, which a refinement chain's result carries; --postprocess=none:
the network's masks), and the first line says which. The work is ind_prior_tf/apply/evaluate.py's.
"""
import dataclasses
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply.config import EvalConfig
from ind_prior_tf.postprocess.stage import PostConfig

F = cli.Flags(__doc__)
# Every flag is a field of EvalConfig or (cli.define_postprocess_flags) of PostConfig, its default and
# help written there once.
knobs.define_config_flags(F, EvalConfig)
cli.define_postprocess_flags(F, PostConfig)


def _main(F):
  config = EvalConfig(**{f.name: F[f.name].value for f in dataclasses.fields(EvalConfig)
                         if f.name in F.values}, post_flags=cli.post_flags(F, PostConfig))
  config.validate().check_files()  # before the seconds-long TensorFlow import
  print(apply_config.post_line(config.post, config.post_source), flush=True)
  from ind_prior_tf.apply import evaluate as evaluation  # pylint: disable=g-import-not-at-top
  result = evaluation.evaluate(config)
  print("\n".join(evaluation.summary_lines(config, result)))


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
