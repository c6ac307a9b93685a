r"""Application 1: learn foreground masks of box-cropped category images by adversarial composition.

  python -m experiments.fgseg --prepared=prepared/horse --backgrounds=prepared/horse_bg.npz \
      --preset=horse-cpu --logdir=runs/horse

A preset (--preset, see docs/fgseg.md) sets the networks, losses and run length; flags given on the
command line override it. Rerunning the same command resumes from the last checkpoint; a logdir that
holds a run with other flags is refused unless --overwrite (which starts afresh). Ctrl-C saves a
checkpoint. Score the result with experiments/evaluate.py. The config and its checks are
ind_prior_tf/fgseg_config.py's, the run ind_prior_tf/fgseg_run.py's.
"""
import sys

from ind_prior_tf import choices, cli
from ind_prior_tf.fgseg_config import IN_MEMORY, PRESET_FLAGS, PRESETS, FgSegConfig

F = cli.Flags(__doc__)
F.string("prepared", None, "Prepared set directory (meta.json + TFRecord shards), from "
         "data_prep.cub / data_prep.celeba.")
F.enum("split", "all", choices.SPLITS,
       "Crops to train on; the method needs no masks, so 'all' by default.")
F.string("backgrounds", None, "Background patch pool (.npz from data_prep.backgrounds).")
F.string("name", "fgseg", "Run name: the default --logdir is $RUNS/<name> (RUNS=runs).")
F.string("logdir", None, "Run directory: flags.json, ckpt/, tb/, metrics.jsonl.")
F.string("preset", "cpu", "Named settings (paper, cpu, horse-cpu, demo, tiny; see "
         "docs/fgseg.md); explicit flags override them.")
F.integer("steps", 6000, "Total training steps (a resumed run continues up to it).")
F.integer("batch_size", 32, "Global batch size.")
F.integer("image_size", 64, "Training size, a multiple of 64 (crops are resized).")
F.float("width", 0.25, "UNet width multiplier (1 = Table 1).")
F.float("d_width", 0.25, "Discriminator width multiplier (1 = Table 1).")
F.float("lr_d", 2e-4, "Adam learning rate of the discriminator.")
F.float("lr_g", 4e-4, "Adam learning rate of the UNet.")
F.float("area_lambda", 1000.0, "Weight lambda of the area penalty (Table 3: 1000).")
F.float("area_target", 0.25, "Target area fraction a (Table 3: 0.25).")
F.enum("area_form", "squared", choices.AREA_FORMS,
       "squared: every mask pulled to a (as printed); batch_squared: only the batch mean; "
       "hinge: a cap at a; linear: a constant push to small masks.")
F.float("area_floor", 0.0, "> 0: every mask below this area fraction also pays "
        "lambda * (floor - area)^2, so batch_squared cannot leave crops with empty masks "
        "(not in the paper: 0).")
F.integer("area_warmup", 0, "Steps over which lambda ramps up linearly from 0.")
F.float("binarize_lambda", 0.0, "Weight of mean m(1-m), pushing soft masks to 0 or 1 "
        "(not in the paper: 0).")
F.float("tight_lambda", 0.0, "Weight of the tight-box prior: every row and column of a "
        "crop by a tight box holds object (not in the paper: 0).")
F.float("smooth_lambda", 0.0, "Weight of the masks' total variation (their boundary "
        "length per pixel): holes, specks and thin lines cost (not in the paper: 0).")
F.float("pairwise_lambda", 0.0, "Weight of the colour-affinity term: neighbouring pixels of "
        "nearly the same colour should get the same label, so masks follow colour edges "
        "(ours, after BoxInst; not in the paper: 0; losses.pairwise_affinity_loss).")
F.float("unary_lambda", 0.0, "Weight of the colour-model term: each pixel should take the label "
        "whose colour histogram, fitted to its own image's soft mask, explains its colour better "
        "(ours, after GrabCut; not in the paper: 0; losses.colour_model_loss).")
F.float("border_lambda", 0.0, "Weight of the border prior: the mean mask value on the crop's "
        "outermost ring, mostly background in a tight box; an inverted mask fills it (ours; not "
        "in the paper: 0; fgseg_lib.border_loss).")
F.float("ema_decay", 0.0, "> 0: the run's segmenter (evaluated, saved as `unet`) is an "
        "exponential moving average of the trained UNet with this decay (not in the paper).")
F.float("removal_lambda", 0.0, "Weight of the removal term: a crop with its mask's region "
        "filled by a background patch must look like background to a second discriminator "
        "(not in the paper: 0; see docs/fgseg.md).")
F.float("recolor", 0.0, "Fraction of crops desaturated and given a random gamma, each with "
        "the background patch it is composited over (not in the paper: 0; augment.py).")
F.string("diffaug", "", "Differentiable augmentation of every image the discriminator sees, "
         "real crops and composites alike: a comma-separated subset of color, translation, cutout "
         "(ours, after DiffAugment; not in the paper: empty = off).")
F.enum("upsample", "deconv", choices.UPSAMPLES,
       "UNet decoder: transposed convs (Table 1) or resize-convs (no checkerboard).")
F.boolean("flip", True, "Left-right flips, each with probability 1/2, of the real crops and of the "
          "background patches (ours: the paper names flips only as the student's augmentation; "
          "preset paper: off).")
F.integer("eval_every", 250, "Steps between IoU on the masked crops and image grids "
          "(0: never).")
F.integer("eval_count", 256, "Masked crops scored every --eval_every steps.")
F.string("init_from", None, "A segmenter run (a teacher or a distilled student) of the same "
         "image size, width and decoder whose UNet a fresh run starts from (not in the "
         "paper; ignored when resuming).")
F.enum("in_memory", "auto", IN_MEMORY,
       "Hold all crops in memory (auto: when they fit in 1 GiB) or stream the shards.")
cli.define_run_flags(F, save_every=500, overwrite_removes="checkpoints, events and metrics")


def config_from_flags(F):
  """The FgSegConfig of the command line: the preset's values under the flags given."""
  return cli.build_config(F, FgSegConfig, PRESETS, PRESET_FLAGS,
                          logdir=F.logdir or cli.default_logdir(F.name))


def _main(F):
  config = config_from_flags(F).validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf import fgseg_run  # pylint: disable=g-import-not-at-top
  result = fgseg_run.run(config)
  scores = result["eval"]
  return cli.finish_training(
      result, f"; fg IoU {scores['fg_iou']:.3f} on {scores['images']} masked crops" if scores else "")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
