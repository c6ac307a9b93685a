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

from ind_prior_tf import choices, cli
from ind_prior_tf.errors import FlagError
from ind_prior_tf.hoc import config as hoc_config

F = cli.Flags(__doc__)
F.string("image", None, "The training image: a path, or skimage:coins (bundled, offline). "
         "Default: the preset's image (coins presets only).")
F.string("preset", "coins", "crowd, fruit, seed (Table 4, with --image and --window), "
         "coins (the offline default), coins_cpu or auto_cpu (with --image and --window; "
         "experiments.hoc_auto sets them from the photo); explicit flags override it.")
F.integer("window", None, "Patch window in px of the image, ~1.5x the width of the largest "
          "instance (coins presets: 96).")
F.integer("stride", None, "Patch grid stride in px (default window // 8).")
F.boolean("hflip", False, "Add left-right flipped patches (fruit, seed, coins presets: on).")
F.boolean("vflip", False, "Add up-down flipped patches (fruit, seed, coins presets: on).")
F.string("name", None, "Run name: the default --logdir is $RUNS/hoc_<name or preset>.")
F.string("logdir", None, "Run directory: flags.json, ckpt/, tb/, figures/, metrics.jsonl.")
F.integer("steps", 20000, "Total training steps (a resumed run continues up to it).")
# HocConfig fields.
F.integer("n_layers", 8, "Composition layers N (Table 4).")
F.integer("z_dim", 6, "dim z per layer (Table 4).")
F.float("area_lambda", 1000.0, "Weight lambda of the area penalty (Table 4: 1000).")
F.float("area_target", 0.1, "Target mask area fraction a (Table 4).")
F.enum("area_form", "squared", choices.AREA_FORMS,
       "squared: every mask pulled to a (eq. 7 as printed); batch_squared: only the batch "
       "mean; hinge: a cap at a; linear: a constant push to small masks.")
F.float("beta", 50.0, "Weight beta of the InfoGAN information term (Table 4: 50).")
F.enum("q_input", "carved", hoc_config.Q_INPUTS,
       "What Q reads: each layer's carved instance (regresses its own z), the composite "
       "(regresses all N codes), or the carved instance's grey levels (ours); see docs/hoc.md.")
F.float("support_lambda", 0.0, "Weight of the mean alpha outside each instance's centred disk of "
        "radius image_size / 3, against off-centre and cut objects (ours; 0 = off, as in the paper).")
F.float("binary_lambda", 0.0, "Weight of the mean m (1 - m) of the masks, against faint masks "
        "(ours; 0 = off, as in the paper).")
F.float("hist_lambda", 0.0, "Weight of the distance between the sorted pixel values of the "
        "composites' and the real patches' centre disks, per channel (ours; 0 = off, as in the "
        "paper).")
F.integer("pad", 30, "Layout padding P in px: each layer moves by up to P (the appendix's layout "
          "paragraph).")
F.integer("image_size", 64, "Patch and layer size, a multiple of 16 (paper: 64).")
F.float("width", 1.0, "Generator and Q width multiplier (1 = Table 2).")
F.float("d_width", 1.0, "Discriminator width multiplier (1 = Table 2).")
F.integer("batch_size", 64, "Global batch of composites.")
F.float("lr_d", 2e-4, "Adam learning rate of D.")
F.float("lr_g", 4e-4, "Adam learning rate of G and Q.")
F.float("beta1", 0.5, "Adam beta1.")
F.float("beta2", 0.999, "Adam beta2.")
F.enum("upsample", "deconv", choices.UPSAMPLES,
       "Generator upsampling: transposed convs (Table 2) or resize-convs.")
F.enum("background", "disk", hoc_config.BACKGROUNDS,
       "Backgrounds: real patches with a black centre disk (paper's choice), pure black, or "
       "(ours) the disk filled with the median colour of the patch around it (median_disk) or the "
       "whole patch filled with its median colour (ground), for objects on a visible ground such "
       "as coins on a table, or the photo with its objects painted out by its own ground (photo; "
       "experiments.hoc_auto's) (docs/hoc.md).")
F.enum("color", "rgb", hoc_config.COLORS,
       "Ours: gray ties the generator's three colour channels (a grey photo); auto picks gray when "
       "the photo's channels are equal, else rgb (the paper's).")
F.float("disk_radius", 20.0, "Radius of the centre disk in px at --image_size.")
F.integer("image_every", 500, "Steps between figures (0: only at the end).")
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
