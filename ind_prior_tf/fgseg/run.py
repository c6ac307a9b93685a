"""One run of Application 1 from its config, as experiments.fgseg starts it: seeds and strategy, the
--init_from warm start, the data (every check of it passed before anything is written), the run
directory (flags.json, --overwrite's clean-up, run.json), the header line, then fgseg_lib.train.

Rerunning the same config resumes from the last checkpoint; a run directory that holds a run with
other flags is refused unless config.overwrite (which starts afresh).
"""
import os

from ind_prior_tf.apply import ensemble
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.data import pipeline
from ind_prior_tf.errors import FlagError
from ind_prior_tf.fgseg import gan as fgseg_lib
from ind_prior_tf.runtime import devices, rundir, training

IN_MEMORY = {"auto": None, "yes": True, "no": False}


def warm_start_checkpoint(run_dir, config):
  """The latest checkpoint of the --init_from run, after checking that its UNet is this run's."""
  source = segmenter.read_run_config(run_dir)
  if segmenter.run_kind(source) != "segmenter":
    raise FlagError(f"--init_from={run_dir}: a HOC run, not a segmenter")
  if ensemble.is_ensemble(source):
    raise FlagError(f"--init_from={run_dir}: an ensemble of runs; start from one of its members")
  theirs = segmenter.unet_spec(source)
  ours = (config.image_size, config.width, config.upsample)
  if theirs != ours:
    raise FlagError(f"--init_from={run_dir}: its UNet (image size, width, decoder) is {theirs}, this "
                    f"run's is {ours}")
  return os.path.abspath(segmenter.latest_checkpoint(run_dir))


def load_data(config):
  """(dataset, pool, eval_data, preview) of a run: endless training batches, the background pool at
  the training size, the masked crops scored every eval_every steps (None for a set without masks)
  and the crops of the image grids (None when the eval crops serve). Raises DataError for a set or
  pool the run cannot use."""
  c = config
  dataset = pipeline.training_dataset(c.prepared, c.batch_size, c.image_size, c.split, seed=c.seed,
                                      flip=c.flip, in_memory=IN_MEMORY[c.in_memory])
  pool = pipeline.load_pool(c.backgrounds, c.image_size)
  eval_data = pipeline.eval_arrays(c.prepared, c.image_size, c.eval_count)
  if eval_data[0] is None:
    return dataset, pool, None, pipeline.preview_images(c.prepared, c.image_size)
  return dataset, pool, eval_data, None


def header(config, where):
  """The line that says what is trained, and where (devices.announce's phrase)."""
  c = config
  return (f"training {c.preset} preset in {c.logdir}: {c.image_size}px, width {c.width}/{c.d_width}, "
          f"batch {c.batch_size}, area {c.area_form} a={c.area_target} lambda={c.area_lambda}, "
          f"{c.steps} steps {where}")


def prepare(config):
  """Creates the run directory (a FlagError naming --logdir when it cannot be made) and writes its
  flags.json, after --overwrite's clean-up; refuses a directory holding a run with other flags."""
  logdir = config.logdir
  try:
    os.makedirs(logdir, exist_ok=True)
  except OSError as e:
    raise FlagError(f"--logdir={logdir}: cannot create {e.filename or logdir} "
                    f"({e.strerror or e})") from None
  if config.overwrite:
    rundir.fresh_start(logdir, ("ckpt", "tb"))
  rundir.prepare_logdir(logdir, config.flags_json(), overwrite=config.overwrite,
                        defaults=fgseg_lib.FgSegConfig().gan_fields(), kind="fgseg")


def _print(line):
  print(line, flush=True)  # each line as it happens, also into a pipe (tee, a refine chain's log)


def run(config, log=_print):
  """Trains (or resumes) the run `config` describes (validated: FgSegConfig.validate) in
  config.logdir. Nothing is written before the strategy, the --init_from run, the prepared set and
  the pool have passed their checks. Returns fgseg_lib.train's dict (step, status, checkpoint, the
  last losses, eval: the last scores or {}) with `devices`, the phrase of where it ran."""
  c = config
  training.set_determinism(c.seed, c.deterministic)
  strategy = training.make_strategy(c.strategy)
  if c.batch_size % strategy.num_replicas_in_sync:
    raise FlagError(f"--batch_size={c.batch_size}: not divisible by the "
                    f"{strategy.num_replicas_in_sync} replicas")
  init_unet = warm_start_checkpoint(c.init_from, c) if c.init_from else None
  dataset, pool, eval_data, preview = load_data(c)
  prepare(c)
  where = devices.announce(c.logdir, strategy, c.mixed_precision,
                           training.use_jit(c.jit, strategy, c.upsample), log=log)
  log(header(c, where))
  result = fgseg_lib.train(
      c, dataset, pool, c.logdir, c.steps, strategy=strategy, eval_data=eval_data, preview=preview,
      log_every=c.log_every, save_every=c.save_every, eval_every=c.eval_every,
      max_to_keep=c.max_to_keep, progress=c.progress, init_unet=init_unet, log=log)
  result["devices"] = where
  return result
