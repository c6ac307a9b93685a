"""Data distillation (appendix, eq. 8): train a student segmenter on a teacher's masks.

  python -m experiments.distill --teacher=runs/horse --prepared=prepared/horse \
      --backgrounds=prepared/horse_bg.npz --logdir=runs/horse-distill

The student's run directory follows the segmenter contract (flags.json with image_size / width /
upsample, the student saved as `unet` under <logdir>/ckpt), so experiments/evaluate.py, segment.py and
export.py take it exactly like a teacher's. Rerunning the same command resumes. The work is
ind_prior_tf/distill/run.py's; the config and presets are ind_prior_tf/distill/config.py's.
"""
import sys

from ind_prior_tf import choices, cli
from ind_prior_tf.distill.config import PRESET_FIELDS, PRESETS, DistillConfig

F = cli.Flags(__doc__)
F.string("teacher", None, "Run directory of the teacher segmenter (flags.json + ckpt/).")
F.string("teacher_checkpoint", None,
         "A checkpoint prefix of the teacher run (default: its latest), e.g. the one "
         "experiments.consistency --all_checkpoints picks.")
F.string("prepared", None, "Prepared set directory (meta.json + TFRecord shards).")
F.enum("split", "all", choices.SPLITS,
       "Images of the prepared set to distill on; the method needs no masks, so 'all'.")
F.string("backgrounds", None, "Background patch pool (.npz from data_prep.backgrounds).")
F.string("logdir", None, "Run directory of the student (checkpoints, TensorBoard, flags).")
F.integer("image_size", None, "Student input size, a multiple of 64 (default: teacher's).")
F.float("width", None, "Student UNet width multiplier (default: the teacher's).")
F.enum("upsample", None, choices.UPSAMPLES, "Student decoder (default: teacher's).")
F.string("preset", "cpu", "Named run length, batch and optimiser (paper, cpu, tiny: see "
         "ind_prior_tf/distill/config.py); explicit flags override it.")
F.integer("steps", DistillConfig.steps, "Total training steps (a resumed run continues up to it). "
          "The presets set it (the default preset, cpu: 4000).")
F.integer("batch_size", DistillConfig.batch_size, "Global batch size. The presets set it (the "
          "default preset, cpu: 32).")
F.float("lr", 1e-3, "Adam learning rate of the student (ours; preset paper: 4e-4, the paper's "
        "rate for generators: it prints none for the student).")
F.enum("lr_decay", "constant", ["constant", "cosine"],
       "cosine: the learning rate falls to 0 over --steps (a half cosine).")
F.float("ema_decay", 0.0,
        "> 0: the student saved (as `unet`) and scored is an exponential moving average of the "
        "trained one with this decay per step (not in the paper).")
F.float("beta1", 0.9, "Adam beta1 (ours; the paper, preset paper: 0.5).")
F.float("label_threshold", None,
        "Carve and label with the teacher's mask thresholded at this value instead of "
        "its soft prediction (the paper's choice, the default).")
F.float("real_fraction", 0.0,
        "Not in the paper: fraction of samples fed as the real image (background left "
        "in place) instead of a composite; 0 is the paper's recipe.")
F.integer("real_ignore_band", 0,
          "Not in the paper: on the real samples (--real_fraction), pixels within this many "
          "pixels of the label's edge are left out of the loss; 0: all count.")
F.float("recolor", 0.0,
        "Not in the paper: fraction of samples whose image is desaturated and given a "
        "random gamma before it is carved and pasted, so the student sees the category's "
        "shapes in colours the teacher rarely saw; 0 is the paper's recipe.")
F.float("label_keep", 1.0,
        "Not in the paper: the fraction of images the student learns from, those whose "
        "teacher masks agree best with the teacher's masks of the mirrored images; 1 "
        "keeps all (the paper's recipe). Scores still cover every masked crop.")
F.integer("grabcut_iters", 0,
          "Not in the paper: > 0 refines every teacher label with this many iterations of "
          "OpenCV's GrabCut on the raw image around its box, seeded by the label "
          "(ind_prior_tf/postprocess/grabcut.py); needs the raw images (--raw_root) and OpenCV. 0: the "
          "teacher's labels as they are, the paper's recipe.")
F.boolean("flip_average_labels", False,
          "Not in the paper: each teacher label is the mean of the teacher's masks of the "
          "image and of its mirror image (before GrabCut, with --grabcut_iters); off: "
          "the paper's recipe.")
F.string("raw_root", None,
         "The raw set the prepared one was made from (CUB or CelebA layout), for "
         "--grabcut_iters; default: the directory its meta.json records.")
F.boolean("flip", True, "Horizontal flips of composites and labels.")
F.integer("eval_every", 250, "Steps between scores on the masked crops (if the set has "
          "masks) and image grids (TensorBoard and samples/); 0: never.")
F.integer("eval_count", 256, "Masked crops scored every --eval_every steps.")
cli.define_run_flags(F, save_every=1000, overwrite_removes="checkpoints, samples, events and metrics",
                     networks="student")


def config_of(F):
  """The DistillConfig of the parsed flags, the preset applied (a given flag wins over it)."""
  return cli.build_config(F, DistillConfig, PRESETS, PRESET_FIELDS)


def _main(F):
  config = config_of(F).validate().check_files()  # before the seconds-long TensorFlow import
  from ind_prior_tf.distill import run as distill_run  # pylint: disable=g-import-not-at-top
  result = distill_run.distill(config)
  return cli.finish_training(result, distill_run.summary(result))


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
