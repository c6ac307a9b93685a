r"""Application 1: learn foreground masks of box-cropped category images by adversarial composition.

  python -m experiments.fgseg --prepared=prepared/horse --backgrounds=prepared/horse_bg.npz \
      --preset=horse-cpu --logdir=runs/horse

A preset (--preset, see docs/fgseg.md) sets the networks, losses and run length; flags given on the
command line override it. Rerunning the same command resumes from the last checkpoint; a logdir that
holds a run with other flags is refused unless --overwrite (which starts afresh). Ctrl-C saves a
checkpoint. Score the result with experiments/evaluate.py. The config and its checks are
ind_prior_tf/fgseg/config.py's, the run ind_prior_tf/fgseg/run.py's.
"""
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.fgseg.config import PRESET_FLAGS, PRESETS, FgSegConfig

F = cli.Flags(__doc__)
F.string("name", "fgseg", "Run name: the default --logdir is $RUNS/<name> (RUNS=runs).")
F.string("logdir", None, "Run directory: flags.json, ckpt/, tb/, metrics.jsonl.")
F.string("preset", "cpu", "Named settings (paper, cpu, horse-cpu, demo, tiny; see "
         "docs/fgseg.md); explicit flags override them.")
# Every other flag is a field of FgSegConfig, its default and help written there once.
knobs.define_config_flags(F, FgSegConfig)
cli.define_run_flags(F, save_every=500, overwrite_removes="checkpoints, events and metrics")


def config_from_flags(F):
  """The FgSegConfig of the command line: the preset's values under the flags given."""
  return cli.build_config(F, FgSegConfig, PRESETS, PRESET_FLAGS,
                          logdir=F.logdir or cli.default_logdir(F.name))


def _main(F):
  config = config_from_flags(F).validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf.fgseg import run as fgseg_run  # pylint: disable=g-import-not-at-top
  result = fgseg_run.run(config)
  scores = result["eval"]
  return cli.finish_training(
      result, f"; fg IoU {scores['fg_iou']:.3f} on {scores['images']} masked crops" if scores else "")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
