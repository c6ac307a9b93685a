"""Scores a trained segmenter (a fgseg teacher or a distilled student) on the masks of a prepared set.

  python -m experiments.evaluate --run_dir=runs/horse --prepared=prepared/horse --split=train

Protocol (docs/fgseg.md): the crops of the prepared set (box crops, resized to its size) go through the
segmenter at its training size; its soft masks are resized back to the crops' size and binarised at
0.5, as are the ground-truth masks. Prints and writes to <out_dir>/scores.json the mean per-image
foreground IoU, the dataset mIoU (foreground and background IoU from summed intersections and unions)
and the pixel accuracy; writes per_image.csv and cases.png (the best cases left, the worst right; each
input / ground truth / soft mask / carved foreground). The work is ind_prior_tf/evaluation.py's.
"""
import dataclasses
import sys

from ind_prior_tf import apply_config, choices, cli
from ind_prior_tf.apply_config import EvalConfig

F = cli.Flags(__doc__)
F.string("run_dir", None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
F.string("checkpoint", None, "A checkpoint prefix of the run (default: the latest).")
F.string("prepared", None, "Prepared set with masks (meta.json + TFRecord shards).")
F.enum("split", "all", choices.SPLITS, "Images to score (only those with a mask count).")
F.string("out_dir", None, "Where scores.json, per_image.csv and cases.png go "
         "(default <run_dir>/eval-<split>).")
F.integer("cases", 8, "Best and worst cases shown in cases.png.")
F.integer("batch_size", 64, "Images per inference batch.")
F.integer("grabcut_iters", 0,
          "Not in the paper: > 0 scores the masks after this many iterations of GrabCut "
          "on the raw image around each box, seeded by the mask (ind_prior_tf/grabcut.py; "
          "needs the raw images and OpenCV); the network's own scores are reported too.")
F.float("grabcut_band", 0.0,
        "With --grabcut_iters: > 0 lets GrabCut move the mask's edges by at most this "
        "fraction of the box's longer side (a trimap around the mask); 0: anywhere in the "
        "box.")
F.string("raw_root", None,
         "The raw set the prepared one was made from, for --grabcut_iters; default: "
         "the directory its meta.json records.")
cli.define_mask_refinement_flags(F, EvalConfig)
F.boolean("flip_average", False,
          "Not in the paper: score the mean of the network's masks of each crop and of its "
          "mirror image (before GrabCut, with --grabcut_iters).")


def _main(F):
  config = EvalConfig(**{f.name: F[f.name].value for f in dataclasses.fields(EvalConfig)})
  config = apply_config.with_recipe(config, F.recipe, {n for n in F.values if F.given(n)})
  config.validate().check_files()  # before the seconds-long TensorFlow import
  from ind_prior_tf import evaluation  # pylint: disable=g-import-not-at-top
  result = evaluation.evaluate(config)
  print("\n".join(evaluation.summary_lines(config, result)))


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
