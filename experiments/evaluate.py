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

from ind_prior_tf import choices, cli
from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply.config import EvalConfig
from ind_prior_tf.postprocess.stage import PostConfig

F = cli.Flags(__doc__)
F.string("run_dir", None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
F.string("checkpoint", None, "A checkpoint prefix of the run (default: the latest).")
F.string("prepared", None, "Prepared set with masks (meta.json + TFRecord shards).")
F.enum("split", "all", choices.SPLITS, "Images to score (only those with a mask count).")
F.string("out_dir", None, "Where scores.json, per_image.csv and cases.png go "
         "(default <run_dir>/eval-<split>, with -<the post-processing's settings> when any runs).")
F.integer("cases", 8, "Best and worst cases shown in cases.png.")
F.integer("batch_size", 64, "Images per inference batch.")
F.string("raw_root", None,
         "The raw set the prepared one was made from, for GrabCut and the CRF on the photo; "
         "default: the one its meta.json records.")
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
