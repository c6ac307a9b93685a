"""Application 1: learn foreground masks of box-cropped category images by adversarial composition.

  python -m experiments.fgseg --prepared=prepared/horse --backgrounds=prepared/horse_bg.npz \
      --preset=horse-cpu --logdir=runs/horse

A preset (--preset, see docs/fgseg.md) sets the networks, losses and run length; flags given on the
command line override it. Rerunning the same command resumes from the last checkpoint; a logdir that
holds a run with other flags is refused unless --overwrite (which starts afresh). Ctrl-C saves a
checkpoint. Score the result with experiments/evaluate.py.
"""
import dataclasses
import os
import sys

from absl import app, flags

from experiments import run_flags

AREA_FORMS = ("squared", "batch_squared", "hinge", "linear")  # losses.AREA_FORMS, without importing TF

# Named presets: flag values that an explicit flag overrides. docs/fgseg.md explains each one, what it
# costs and what it scores.
PRESETS = {
    # The paper's settings (Tables 1 and 3) for a GPU; the paper gives neither batch size nor steps.
    "paper": dict(image_size=128, width=1.0, d_width=1.0, batch_size=16, area_lambda=1000.0,
                  area_target=0.25, area_form="squared", upsample="deconv", steps=60000,
                  log_every=100, save_every=2000, eval_every=1000),
    # The paper's losses on a 2-core CPU: 64 px, quarter-width networks, under an hour.
    "cpu": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                area_target=0.25, area_form="squared", upsample="deconv", steps=6000,
                log_every=50, save_every=500, eval_every=250),
    # make demo: the scikit-image demo set (objects ~0.38 of their box) in a few minutes on 2 cores.
    "demo": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                 area_target=0.38, area_form="batch_squared", upsample="deconv", steps=1500,
                 log_every=50, save_every=500, eval_every=250),
    # make horse-train: the Weizmann horses on 2 CPU cores in about 10 minutes (docs/fgseg.md): the
    # CPU sizes with the area prior relaxed to the batch mean at the horses' own fraction (0.40 of the
    # box, not 0.25), resize-conv upsampling (no checkerboard) and a push to binary masks.
    "horse-cpu": dict(image_size=64, width=0.25, d_width=0.25, batch_size=32, area_lambda=1000.0,
                      area_target=0.40, area_form="batch_squared", binarize_lambda=5.0,
                      upsample="resize", steps=2000, log_every=50, save_every=500, eval_every=250),
    # Seconds: smoke runs and the tests.
    "tiny": dict(image_size=64, width=0.125, d_width=0.125, batch_size=8, steps=200,
                 log_every=10, save_every=100, eval_every=50),
}

flags.DEFINE_string("prepared", None, "Prepared set directory (meta.json + TFRecord shards), from "
                    "data_prep.cub / data_prep.celeba.")
flags.DEFINE_enum("split", "all", ["all", "train", "test"],
                  "Crops to train on; the method needs no masks, so 'all' by default.")
flags.DEFINE_string("backgrounds", None, "Background patch pool (.npz from data_prep.backgrounds).")
flags.DEFINE_string("name", "fgseg", "Run name: the default --logdir is $RUNS/<name> (RUNS=runs).")
flags.DEFINE_string("logdir", None, "Run directory: flags.json, ckpt/, tb/, metrics.jsonl.")
flags.DEFINE_string("preset", "cpu", "Named settings (paper, cpu, horse-cpu, demo, tiny; see "
                    "docs/fgseg.md); explicit flags override them.")
flags.DEFINE_integer("steps", 6000, "Total training steps (a resumed run continues up to it).")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("image_size", 64, "Training size, a multiple of 64 (crops are resized).")
flags.DEFINE_float("width", 0.25, "UNet width multiplier (1 = Table 1).")
flags.DEFINE_float("d_width", 0.25, "Discriminator width multiplier (1 = Table 1).")
flags.DEFINE_float("lr_d", 2e-4, "Adam learning rate of the discriminator.")
flags.DEFINE_float("lr_g", 4e-4, "Adam learning rate of the UNet.")
flags.DEFINE_float("area_lambda", 1000.0, "Weight lambda of the area penalty (Table 3: 1000).")
flags.DEFINE_float("area_target", 0.25, "Target area fraction a (Table 3: 0.25).")
flags.DEFINE_enum("area_form", "squared", list(AREA_FORMS),
                  "squared: every mask pulled to a (as printed); batch_squared: only the batch mean; "
                  "hinge: a cap at a; linear: a constant push to small masks.")
flags.DEFINE_float("area_floor", 0.0, "> 0: every mask below this area fraction also pays "
                   "lambda * (floor - area)^2, so batch_squared cannot leave crops with empty masks "
                   "(not in the paper: 0).")
flags.DEFINE_integer("area_warmup", 0, "Steps over which lambda ramps up linearly from 0.")
flags.DEFINE_float("binarize_lambda", 0.0, "Weight of mean m(1-m), pushing soft masks to 0 or 1 "
                   "(not in the paper: 0).")
flags.DEFINE_float("tight_lambda", 0.0, "Weight of the tight-box prior: every row and column of a "
                   "crop by a tight box holds object (not in the paper: 0).")
flags.DEFINE_float("smooth_lambda", 0.0, "Weight of the masks' total variation (their boundary "
                   "length per pixel): holes, specks and thin lines cost (not in the paper: 0).")
flags.DEFINE_float("ema_decay", 0.0, "> 0: the run's segmenter (evaluated, saved as `unet`) is an "
                   "exponential moving average of the trained UNet with this decay (not in the paper).")
flags.DEFINE_float("removal_lambda", 0.0, "Weight of the removal term: a crop with its mask's region "
                   "filled by a background patch must look like background to a second discriminator "
                   "(not in the paper: 0; see docs/fgseg.md).")
flags.DEFINE_float("recolor", 0.0, "Fraction of crops desaturated and given a random gamma, each with "
                   "the background patch it is composited over (not in the paper: 0; augment.py).")
flags.DEFINE_enum("upsample", "deconv", ["deconv", "resize"],
                  "UNet decoder: transposed convs (Table 1) or resize-convs (no checkerboard).")
flags.DEFINE_integer("eval_every", 250, "Steps between IoU on the masked crops and image grids "
                     "(0: never).")
flags.DEFINE_integer("eval_count", 256, "Masked crops scored every --eval_every steps.")
flags.DEFINE_string("init_from", None, "A segmenter run (a teacher or a distilled student) of the same "
                    "image size, width and decoder whose UNet a fresh run starts from (not in the "
                    "paper; ignored when resuming).")
flags.DEFINE_enum("in_memory", "auto", ["auto", "yes", "no"],
                  "Hold all crops in memory (auto: when they fit in 1 GiB) or stream the shards.")

run_flags.define(save_every=500, overwrite_removes="checkpoints, events and metrics")

FLAGS = flags.FLAGS

# Flags a preset may set; an explicitly given flag always wins.
PRESET_FLAGS = ("steps", "batch_size", "image_size", "width", "d_width", "lr_d", "lr_g",
                "area_lambda", "area_target", "area_form", "area_floor", "area_warmup",
                "binarize_lambda", "tight_lambda", "smooth_lambda", "removal_lambda", "ema_decay",
                "upsample", "log_every", "save_every", "eval_every")


class FlagError(ValueError):
  pass


def resolved():
  """Flag values after the preset: {name: value} for every flag a preset may set."""
  if FLAGS.preset not in PRESETS:
    raise FlagError(f"--preset={FLAGS.preset}: expected one of {', '.join(PRESETS)}")
  preset = PRESETS[FLAGS.preset]
  values = {}
  for name in PRESET_FLAGS:
    values[name] = FLAGS[name].value if FLAGS[name].present or name not in preset else preset[name]
  return values


def check(v):
  """One-line errors for values the networks, losses or files cannot take."""
  for name in ("prepared", "backgrounds"):
    if not FLAGS[name].value:
      raise FlagError(f"--{name}: required")
  if not os.path.isfile(os.path.join(FLAGS.prepared, "meta.json")):
    raise FlagError(f"--prepared={FLAGS.prepared}: no meta.json there; run data_prep.cub or "
                    "data_prep.celeba (make *-prep) first")
  if not os.path.isfile(FLAGS.backgrounds):
    raise FlagError(f"--backgrounds={FLAGS.backgrounds}: no such file; build one with "
                    "data_prep.backgrounds (make *-prep)")
  if v["image_size"] < 64 or v["image_size"] % 64:
    raise FlagError(f"--image_size={v['image_size']}: the UNet needs a positive multiple of 64")
  for name in ("width", "d_width", "lr_d", "lr_g"):
    if not 0 < v[name] <= 16:
      raise FlagError(f"--{name}={v[name]}: must be in (0, 16]")
  if not 0 <= v["area_lambda"] < 1e7:
    raise FlagError(f"--area_lambda={v['area_lambda']}: must be >= 0")
  if not 0 < v["area_target"] < 1:
    raise FlagError(f"--area_target={v['area_target']}: must be a fraction in (0, 1)")
  if not 0 <= v["area_floor"] < 1:
    raise FlagError(f"--area_floor={v['area_floor']}: must be a fraction in [0, 1)")
  for name in ("steps", "batch_size", "log_every", "save_every"):
    if v[name] < 1:
      raise FlagError(f"--{name}={v[name]}: must be >= 1")
  for name in ("binarize_lambda", "tight_lambda", "smooth_lambda", "removal_lambda"):
    if not 0 <= v[name] < 1e7:
      raise FlagError(f"--{name}={v[name]}: must be >= 0")
  if not 0 <= FLAGS.recolor <= 1:
    raise FlagError(f"--recolor={FLAGS.recolor}: must be a fraction in [0, 1]")
  if not 0 <= v["ema_decay"] < 1:
    raise FlagError(f"--ema_decay={v['ema_decay']}: must be in [0, 1)")
  for name in ("eval_every", "area_warmup"):
    if v[name] < 0:
      raise FlagError(f"--{name}={v[name]}: must be >= 0")
  if FLAGS.eval_count < 1 or FLAGS.max_to_keep < 1:
    raise FlagError("--eval_count and --max_to_keep must be >= 1")


def warm_start_checkpoint(run_dir, config):
  """The latest checkpoint of the --init_from run, after checking that its UNet is this run's."""
  from ind_prior_tf import segmenter  # pylint: disable=g-import-not-at-top
  source = segmenter.read_run_config(run_dir)
  theirs = segmenter.unet_spec(source)
  ours = (config.image_size, config.width, config.upsample)
  if theirs != ours:
    raise FlagError(f"--init_from={run_dir}: its UNet (image size, width, decoder) is {theirs}, this "
                    f"run's is {ours}")
  return os.path.abspath(segmenter.latest_checkpoint(run_dir))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:  # flags first: a typo is reported before TensorFlow takes seconds to import
    v = resolved()
    check(v)
  except FlagError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  from ind_prior_tf import fgseg_lib, rundir, training  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import pipeline  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    logdir = FLAGS.logdir or os.path.join(os.environ.get("RUNS") or "runs", FLAGS.name)
    config = fgseg_lib.FgSegConfig(**{f.name: v.get(f.name, getattr(FLAGS, f.name, f.default))
                                      for f in dataclasses.fields(fgseg_lib.FgSegConfig)})
    training.set_determinism(FLAGS.seed, FLAGS.deterministic)
    strategy = training.make_strategy(FLAGS.strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
      raise FlagError(f"--batch_size={config.batch_size}: not divisible by the "
                      f"{strategy.num_replicas_in_sync} replicas")
    init_unet = None
    if FLAGS.init_from:
      init_unet = warm_start_checkpoint(FLAGS.init_from, config)
    flags_json = dict(dataclasses.asdict(config), prepared=os.path.abspath(FLAGS.prepared),
                      backgrounds=os.path.abspath(FLAGS.backgrounds), split=FLAGS.split,
                      preset=FLAGS.preset, **{k: v[k] for k in ("steps", "log_every", "save_every",
                                                                "eval_every")},
                      strategy=FLAGS.strategy, deterministic=FLAGS.deterministic,
                      max_to_keep=FLAGS.max_to_keep, logdir=logdir,
                      # The run, not its checkpoint: the same command still resumes after the
                      # source run has saved again.
                      **({"init_from": os.path.abspath(FLAGS.init_from)} if init_unet else {}))
    if FLAGS.overwrite:
      run_flags.fresh_start(logdir, ("ckpt", "tb"))
    rundir.prepare_logdir(logdir, flags_json, overwrite=FLAGS.overwrite,
                            defaults=dataclasses.asdict(fgseg_lib.FgSegConfig()))
    in_memory = {"auto": None, "yes": True, "no": False}[FLAGS.in_memory]
    dataset = pipeline.training_dataset(FLAGS.prepared, config.batch_size, config.image_size,
                                        FLAGS.split, seed=FLAGS.seed, flip=config.flip,
                                        in_memory=in_memory)
    pool = pipeline.load_pool(FLAGS.backgrounds, config.image_size)
    eval_data = pipeline.eval_arrays(FLAGS.prepared, config.image_size, FLAGS.eval_count)
    preview = None if eval_data[0] is not None else pipeline.preview_images(
        FLAGS.prepared, config.image_size)
    print(f"training {FLAGS.preset} preset in {logdir}: {config.image_size}px, width "
          f"{config.width}/{config.d_width}, batch {config.batch_size}, area {config.area_form} "
          f"a={config.area_target} lambda={config.area_lambda}, {v['steps']} steps", flush=True)
    result = fgseg_lib.train(
        config, dataset, pool, logdir, v["steps"], strategy=strategy,
        eval_data=eval_data if eval_data[0] is not None else None, preview=preview,
        log_every=v["log_every"], save_every=v["save_every"], eval_every=v["eval_every"],
        max_to_keep=FLAGS.max_to_keep, progress=FLAGS.progress, init_unet=init_unet)
  except (FlagError, training.RunError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except training.NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  scores = result["eval"]
  summary = f"; fg IoU {scores['fg_iou']:.3f} on {scores['images']} masked crops" if scores else ""
  if result["status"] == "interrupted":
    print(f"interrupted at step {result['step']}; checkpoint {result['checkpoint']}", flush=True)
    sys.exit(130)
  print(f"step {result['step']}: checkpoint {result['checkpoint']}{summary}", flush=True)


if __name__ == "__main__":
  app.run(main)
