"""Application 2: instance appearances and masks from ONE image of a dense homogeneous object cluster.

  python -m experiments.hoc --preset=coins_cpu --logdir=runs/hoc_coins_cpu
  python -m experiments.hoc --preset=fruit --image=my_fruit.jpg --window=90 --logdir=runs/fruit

The image is cut into window x window patches on a --stride grid, scaled to 64 px (optionally flipped):
the real images. N layers from one shared generator, each shifted at random (pad-and-crop), are
composited over real patches with a black centre disk. A preset (--preset; Table 4: crowd, fruit,
seed; offline: coins, coins_cpu, see docs/hoc.md) sets the model, losses and run length; flags given on
the command line override it. Rerunning the same command resumes from the last checkpoint; a logdir
that holds a run with other flags is refused unless --overwrite (which starts afresh). Ctrl-C saves a
checkpoint. Figures like the paper's Figures 8-11 go to <logdir>/figures and TensorBoard; score a run
with experiments/hoc_eval.py. The work is ind_prior_tf/hoc/gan.py's (train_run).
"""
import os
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.errors import FlagError
from ind_prior_tf.hoc import config as hoc_config

F = cli.Flags(__doc__)
# Every flag but the run flags is a field of HocRun (the data and the run) or HocConfig (the model),
# its default and help written there once.
knobs.define_config_flags(F, hoc_config.HocRun)
knobs.define_config_flags(F, hoc_config.HocConfig)
cli.define_run_flags(F, save_every=500, overwrite_removes="checkpoints, events, figures and metrics")


def config_from_flags(F):
  """The HocRun a command line asks for: a given flag wins, then --preset, then the flag's default.
  The image and window of a coins preset do not carry over to another --image."""
  names = hoc_config.DATA_FLAGS + hoc_config.RUN_FLAGS + tuple(hoc_config.config_fields())
  v = cli.resolve(F, hoc_config.PRESETS, F.preset, names)
  preset = hoc_config.PRESETS[F.preset]
  if not v["image"]:
    raise FlagError(f"--preset={F.preset} needs --image=<your photo> and --window=<px> "
                    "(about 1.5x the width of the largest instance)")
  if not F.given("window") and v["image"] != preset.get("image"):
    raise FlagError(f"--window: required for --image={v['image']} ({hoc_config.WINDOW_HELP})")
  rest = {n: F[n].value for n in ("max_to_keep", "strategy", "deterministic", "overwrite",
                                  "progress", "logdir", "name")}
  return hoc_config.HocRun(
      hoc_config.HocConfig(**{n: v[n] for n in hoc_config.config_fields()}), preset=F.preset,
      **{n: v[n] for n in hoc_config.DATA_FLAGS + hoc_config.RUN_FLAGS}, **rest)


def _main(F):
  run = config_from_flags(F).validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf.hoc import gan as hoc_lib  # pylint: disable=g-import-not-at-top
  result = hoc_lib.train_run(run, log=lambda line: print(line, flush=True))
  if result["status"] == "interrupted":
    return cli.finish_training(result)
  figures = result["figures"]
  folder = os.path.dirname(next(iter(figures.values()))) if figures else "-"
  print(f"step {result['step']} ({result['seconds']:.0f} s): checkpoint {result['checkpoint']}; "
        f"figures in {folder}", flush=True)


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
