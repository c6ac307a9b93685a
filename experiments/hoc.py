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
with experiments/hoc_eval.py.
"""
import dataclasses
import os
import sys

from absl import app, flags

from experiments import run_flags

flags.DEFINE_string("image", None, "The training image: a path, or skimage:coins (bundled, offline). "
                    "Default: the preset's image (coins presets only).")
flags.DEFINE_string("preset", "coins", "crowd, fruit, seed (Table 4, with --image and --window), "
                    "coins (the offline default) or coins_cpu; explicit flags override it.")
flags.DEFINE_integer("window", None, "Patch window in px of the image, ~1.5x the width of the largest "
                     "instance (coins presets: 96).")
flags.DEFINE_integer("stride", None, "Patch grid stride in px (default window // 8).")
flags.DEFINE_boolean("hflip", False, "Add left-right flipped patches (fruit, seed, coins presets: on).")
flags.DEFINE_boolean("vflip", False, "Add up-down flipped patches (fruit, seed, coins presets: on).")
flags.DEFINE_string("name", None, "Run name: the default --logdir is $RUNS/hoc_<name or preset>.")
flags.DEFINE_string("logdir", None, "Run directory: flags.json, ckpt/, tb/, figures/, metrics.jsonl.")
flags.DEFINE_integer("steps", 20000, "Total training steps (a resumed run continues up to it).")
# HocConfig fields.
flags.DEFINE_integer("n_layers", 8, "Composition layers N (Table 4).")
flags.DEFINE_integer("z_dim", 6, "dim z per layer (Table 4).")
flags.DEFINE_float("area_lambda", 1000.0, "Weight lambda of the area penalty (Table 4: 1000).")
flags.DEFINE_float("area_target", 0.1, "Target mask area fraction a (Table 4).")
flags.DEFINE_enum("area_form", "squared", ["squared", "batch_squared", "hinge", "linear"],
                  "squared: every mask pulled to a (eq. 7 as printed); batch_squared: only the batch "
                  "mean; hinge: a cap at a; linear: a constant push to small masks.")
flags.DEFINE_float("beta", 50.0, "Weight beta of the InfoGAN information term (Table 4: 50).")
flags.DEFINE_enum("q_input", "carved", ["carved", "composite"],
                  "What Q reads: each layer's carved instance (regresses its own z) or the composite "
                  "(regresses all N codes); see docs/hoc.md.")
flags.DEFINE_integer("pad", 30, "Layout padding P in px: each layer moves by up to P (Table 4 text).")
flags.DEFINE_integer("image_size", 64, "Patch and layer size, a multiple of 16 (paper: 64).")
flags.DEFINE_float("width", 1.0, "Generator and Q width multiplier (1 = Table 2).")
flags.DEFINE_float("d_width", 1.0, "Discriminator width multiplier (1 = Table 2).")
flags.DEFINE_integer("batch_size", 64, "Global batch of composites.")
flags.DEFINE_float("lr_d", 2e-4, "Adam learning rate of D.")
flags.DEFINE_float("lr_g", 4e-4, "Adam learning rate of G and Q.")
flags.DEFINE_float("beta1", 0.5, "Adam beta1.")
flags.DEFINE_float("beta2", 0.999, "Adam beta2.")
flags.DEFINE_enum("upsample", "deconv", ["deconv", "resize"],
                  "Generator upsampling: transposed convs (Table 2) or resize-convs.")
flags.DEFINE_enum("background", "disk", ["disk", "black"],
                  "Backgrounds: real patches with a black centre disk (paper's choice) or pure black.")
flags.DEFINE_float("disk_radius", 20.0, "Radius of the black disk in px at --image_size.")
flags.DEFINE_integer("image_every", 500, "Steps between figures (0: only at the end).")

run_flags.define(save_every=500, overwrite_removes="checkpoints, events, figures and metrics")

FLAGS = flags.FLAGS

DATA_FLAGS = ("image", "window", "stride", "hflip", "vflip")
RUN_FLAGS = ("steps", "log_every", "save_every", "image_every")


class FlagError(ValueError):
  pass


def resolved(hoc_lib):
  """Flag values after the preset: an explicitly given flag wins, then the preset, then the default."""
  if FLAGS.preset not in hoc_lib.PRESETS:
    raise FlagError(f"--preset={FLAGS.preset}: expected one of {', '.join(hoc_lib.PRESETS)}")
  preset = hoc_lib.PRESETS[FLAGS.preset]
  names = DATA_FLAGS + RUN_FLAGS + tuple(hoc_lib.config_fields())
  v = {n: FLAGS[n].value if FLAGS[n].present or n not in preset else preset[n] for n in names}
  if not v["image"]:
    raise FlagError(f"--preset={FLAGS.preset} needs --image=<your photo> and --window=<px> "
                    "(about 1.5x the width of the largest instance)")
  if not FLAGS["window"].present and v["image"] != preset.get("image"):
    raise FlagError(f"--window: required for --image={v['image']} (px, about 1.5x the width of the "
                    "largest instance)")
  if v["window"] is None:
    raise FlagError("--window: required (px, about 1.5x the width of the largest instance)")
  if v["stride"] is None:
    v["stride"] = max(1, v["window"] // 8)
  for n in ("steps", "log_every", "save_every", "stride"):
    if v[n] < 1:
      raise FlagError(f"--{n}={v[n]}: must be >= 1")
  if v["image_every"] < 0 or FLAGS.max_to_keep < 1:
    raise FlagError("--image_every must be >= 0 and --max_to_keep >= 1")
  return v


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf import hoc_lib, training  # pylint: disable=g-import-not-at-top
  from ind_prior_tf import rundir  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import images  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    v = resolved(hoc_lib)
    config = hoc_lib.HocConfig(**{n: v[n] for n in hoc_lib.config_fields()}).validate()
    image = images.load_image_spec(v["image"])
    real = hoc_lib.make_patches(image, v["window"], v["stride"], config.image_size, v["hflip"],
                                v["vflip"])
    backgrounds = hoc_lib.make_backgrounds(real, config)
    logdir = FLAGS.logdir or os.path.join(os.environ.get("RUNS") or "runs",
                                          f"hoc_{FLAGS.name or FLAGS.preset}")
    training.set_determinism(config.seed, FLAGS.deterministic)
    strategy = training.make_strategy(FLAGS.strategy)
    image_spec = v["image"] if v["image"].startswith("skimage:") else os.path.abspath(v["image"])
    flags_json = dict(dataclasses.asdict(config), preset=FLAGS.preset, image=image_spec,
                      **{n: v[n] for n in DATA_FLAGS[1:] + RUN_FLAGS}, strategy=FLAGS.strategy,
                      deterministic=FLAGS.deterministic, max_to_keep=FLAGS.max_to_keep,
                      logdir=logdir, patches=len(real))
    if FLAGS.overwrite:
      run_flags.fresh_start(logdir, ("ckpt", "tb", "figures"), ("metrics.jsonl", "eval.json"))
    rundir.prepare_logdir(logdir, flags_json, overwrite=FLAGS.overwrite,
                            defaults=dataclasses.asdict(hoc_lib.HocConfig()))
    print(f"hoc {FLAGS.preset} in {logdir}: {len(real)} patches of {v['window']} px from "
          f"{v['image']} ({image.shape[1]}x{image.shape[0]}), N={config.n_layers} dim z="
          f"{config.z_dim} a={config.area_target} lambda={config.area_lambda} beta={config.beta} "
          f"pad={config.pad}, width {config.width}/{config.d_width}, batch {config.batch_size}, "
          f"{v['steps']} steps", flush=True)
    result = hoc_lib.train(config, real, backgrounds, logdir, v["steps"], strategy=strategy,
                           log_every=v["log_every"], save_every=v["save_every"],
                           image_every=v["image_every"], max_to_keep=FLAGS.max_to_keep,
                           progress=FLAGS.progress)
  except (FlagError, training.RunError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except training.NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  figures = os.path.dirname(next(iter(result["figures"].values()))) if result["figures"] else "-"
  if result["status"] == "interrupted":
    print(f"interrupted at step {result['step']}; checkpoint {result['checkpoint']}", flush=True)
    sys.exit(130)
  print(f"step {result['step']} ({result['seconds']:.0f} s): checkpoint {result['checkpoint']}; "
        f"figures in {figures}", flush=True)


if __name__ == "__main__":
  app.run(main)
