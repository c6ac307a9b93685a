"""Data distillation (appendix, eq. 8): train a student segmenter on a teacher's masks.

  python -m experiments.distill --teacher=runs/horse --prepared=prepared/horse \
      --backgrounds=prepared/horse_bg.npz --logdir=runs/horse-distill

The student's run directory follows the segmenter contract (flags.json with image_size / width /
upsample, the student saved as `unet` under <logdir>/ckpt), so experiments/evaluate.py, segment.py and
export.py take it exactly like a teacher's. Rerunning the same command resumes. The work is
ind_prior_tf/distill/run.py's; the config and presets are ind_prior_tf/distill/config.py's.
"""
import sys

from ind_prior_tf import choices, cli, knobs
from ind_prior_tf.distill.config import PRESET_FIELDS, PRESETS, DistillConfig

F = cli.Flags(__doc__)
# Every flag but the four below and the run flags is a field of DistillConfig, its default and help
# written there once.
knobs.define_config_flags(F, DistillConfig)
F.integer("image_size", None, "Student input size, a multiple of 64 (default: teacher's).")
F.float("width", None, "Student UNet width multiplier (default: the teacher's).")
F.enum("upsample", None, choices.UPSAMPLES, "Student decoder (default: teacher's).")
F.string("preset", "cpu", "Named run length, batch and optimiser (paper, cpu, tiny: see "
         "ind_prior_tf/distill/config.py); explicit flags override it.")
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
