"""A trained segmenter (a fgseg teacher or a distilled student): loading it from its run directory, and
its masks of images of any size.

The contract every application keeps: a run directory holds `flags.json` (with at least `image_size`,
`width` and `upsample`) and TF checkpoints under `ckpt/` in which the segmentation UNet is saved under
the name `unet` (a HOC run: its instance generator under `generator`). Evaluation, distillation,
segmentation and export all load and predict through here, so a student is scored exactly as a teacher
is.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from ind_prior_tf.apply import ensemble
from ind_prior_tf.core import networks
from ind_prior_tf.errors import RunError
from ind_prior_tf.runtime import runinfo

CKPT_SUBDIR = "ckpt"


def shift(images, dy, dx):
  """images [B, H, W, C] moved down by dy and right by dx pixels (negative: up, left), the edge rows
  and columns repeated into the space left behind."""
  for axis, d in ((1, dy), (2, dx)):
    if d:
      n = tf.shape(images)[axis]
      index = tf.clip_by_value(tf.range(n) - d, 0, n - 1)
      images = tf.gather(images, index, axis=axis)
  return images


SHIFTS = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0))  # the views of shift_average, in units of it


def masks_of(model, images, flip_average=False, shift_average=0):
  """The segmenter's soft masks of images [B, S, S, 3] (its input size). Not in the paper:
  flip_average: the mean of its masks of the images and of their mirror images, mirrored back;
  shift_average=d > 0: the mean over the images and the images moved by d pixels left, right, up and
  down (edges repeated), each mask moved back (with flip_average, each view flip-averaged)."""
  views = SHIFTS if shift_average else SHIFTS[:1]
  total = 0.0
  for dy, dx in views:
    dy, dx = dy * shift_average, dx * shift_average
    x = shift(images, dy, dx)
    masks = model(x, training=False)
    if flip_average:
      masks = (masks + tf.reverse(model(tf.reverse(x, [2]), training=False), [2])) / 2.0
    total += shift(masks, -dy, -dx)
  return total / len(views)


def resize(images, size, antialias=True, clip=True):
  """Bilinear resize of float images [B, h, w, C] in [0, 1] to `size` (an int for a square, or
  (height, width), which may be a tensor), clipped to [0, 1] unless clip=False; a no-op (nor clipped)
  when their static shape is that size already."""
  images = tf.convert_to_tensor(images, tf.float32)
  hw = (size, size) if isinstance(size, (int, np.integer)) else size
  if not tf.is_tensor(hw) and images.shape[1] == hw[0] and images.shape[2] == hw[1]:
    return images
  out = tf.image.resize(images, hw, antialias=antialias)
  return tf.clip_by_value(out, 0.0, 1.0) if clip else out


def predict(model, images, size=None, flip_average=False, clip_input=True, mask_antialias=False,
            shift_average=0):
  """The segmenter's soft masks of float images [B, h, w, 3] in [0, 1] of any size, at `size`.

  The images are resized to the network's input (antialiased bilinear), masked (masks_of, with
  flip_average and shift_average), and the masks resized to `size` (an int, (height, width), or by default the images'
  own size) and clipped to [0, 1]; either resize is skipped when the size already fits. Works eagerly
  and inside tf.function. Callers differ in two details, kept so that their numbers do not move:
  clip_input clips the resized images to [0, 1] (the teacher's labels and the serving signature do,
  evaluation does not), and mask_antialias antialiases the masks' resize (the teacher's labels do;
  evaluation and the serving signature resize them plainly).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  if size is None:
    size = (tuple(images.shape[1:3]) if images.shape[1:3].is_fully_defined()
            else tf.shape(images)[1:3])
  x = resize(images, model.input_shape[1], antialias=True, clip=clip_input)
  return resize(masks_of(model, x, flip_average, shift_average), size, antialias=mask_antialias)


def predictor(model, flip_average=False, shift_average=0):
  """predict as a compiled callable: numpy float32 [B, h, w, 3] in [0, 1] -> numpy masks [B, h, w, 1]
  at the images' own size, traced once per input shape (reduce_retracing: batches of any size)."""
  fn = tf.function(lambda x: predict(model, x, flip_average=flip_average,
                                     shift_average=shift_average), reduce_retracing=True)
  return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()


def read_run_config(run_dir):
  """The run's flags.json (runinfo.read_flags, the one reader of run directories)."""
  return runinfo.read_flags(run_dir)


def unet_spec(config):
  """(image_size, width, upsample) of the UNet described by a run's config (flags.json as a dict)."""
  return (int(config.get("image_size", 128)), float(config.get("width", 1.0)),
          config.get("upsample", "deconv"))


def build_segmenter(config, name="unet"):
  """The UNet described by a run's config (flags.json as a dict)."""
  size, width, upsample = unet_spec(config)
  return networks.unet(size, width, upsample=upsample, name=name)


def latest_checkpoint(run_dir):
  ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, CKPT_SUBDIR))
  if ckpt is None:
    raise RunError(f"{os.path.join(run_dir, CKPT_SUBDIR)}: no checkpoint found")
  return ckpt


def load_segmenter(run_dir, checkpoint=None, name="unet"):
  """Returns (unet, config, checkpoint path) with the weights of the latest (or given) checkpoint.
  A HOC run is a RunError saying so (its checkpoint holds no `unet` to restore). An ensemble
  (ensemble.py) comes back as one model, the mean of its members' masks, with their latest
  checkpoints joined by " + " as its path. name: the Keras model's (the checkpoint does not care)."""
  config = read_run_config(run_dir)
  if run_kind(config) == "generator":
    raise RunError(f"{run_dir}: a HOC run, not a segmenter; its generator exports with "
                   "experiments.export")
  if not runinfo.is_segmenter(config):
    raise RunError(f"{run_dir}: {runinfo.describe(config)}, not a segmenter")
  if ensemble.is_ensemble(config):
    if checkpoint:
      raise RunError(f"{run_dir}: an ensemble of runs takes no checkpoint; give one of its members")
    return _load_ensemble(run_dir, config)
  unet = build_segmenter(config, name)
  path = checkpoint or latest_checkpoint(run_dir)
  tf.train.Checkpoint(unet=unet).restore(path).expect_partial().assert_existing_objects_matched()
  return unet, config, path


def average(models, name="ensemble"):
  """One Keras model whose output is the mean of the outputs of `models` (same input shape)."""
  x = keras.Input(models[0].input_shape[1:])
  return keras.Model(x, keras.layers.Average()([m(x) for m in models]), name=name)


def _load_ensemble(run_dir, config):
  members = ensemble.member_paths(run_dir, config)
  if not members:
    raise RunError(f"{run_dir}: an ensemble without members")
  loaded = []
  for i, member in enumerate(members):
    if not os.path.isdir(member):
      raise RunError(f"{run_dir}: its member {member} is missing")
    loaded.append(load_run_segmenter(member, name=f"member{i}"))  # a model's names must be unique
  if len({m.input_shape[1] for m, _, _ in loaded}) > 1:
    raise RunError(f"{run_dir}: its members take different input sizes")
  paths = " + ".join(os.path.abspath(path) for _, _, path in loaded)
  if len(loaded) == 1:
    return loaded[0][0], config, paths
  return average([m for m, _, _ in loaded]), config, paths


def _restore_error(run_dir, e):
  first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
  return RunError(f"{run_dir}: its checkpoint does not fit its flags.json ({first[:200]})")


def load_run_segmenter(run_dir, checkpoint=None, name="unet"):
  """load_segmenter, with a checkpoint that does not match flags.json (another width or size) or
  cannot be read reported as one RunError line naming the run directory."""
  try:
    return load_segmenter(run_dir, checkpoint, name)
  except RunError:
    raise
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _restore_error(run_dir, e) from None


def load_generator(run_dir, checkpoint=None):
  """A HOC instance generator from its run directory: flags.json with z_dim, image_size, width and
  upsample, and checkpoints under ckpt/ holding it as `generator`. Returns (generator, config, path)."""
  config = read_run_config(run_dir)
  if not runinfo.is_generator(config):
    raise RunError(f"{runinfo.flags_path(run_dir)}: {runinfo.describe(config)}, not a HOC "
                   "generator run")
  generator = networks.instance_generator(int(config["z_dim"]), int(config.get("image_size", 64)),
                                          float(config.get("width", 1.0)),
                                          upsample=config.get("upsample", "deconv"))
  path = checkpoint or latest_checkpoint(run_dir)
  try:
    tf.train.Checkpoint(generator=generator).restore(path).expect_partial() \
        .assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _restore_error(run_dir, e) from None
  return generator, config, path


def run_kind(config):
  """'generator' for HOC runs, 'segmenter' otherwise (runinfo.kind says which run it is)."""
  return "generator" if runinfo.is_generator(config) else "segmenter"
