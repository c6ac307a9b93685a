"""Loading a trained segmenter (a fgseg teacher or a distilled student) from its run directory.

The contract every application keeps: a run directory holds `flags.json` (with at least `image_size`,
`width` and `upsample`) and TF checkpoints under `ckpt/` in which the segmentation UNet is saved under the
name `unet`. Evaluation, distillation, segmentation and export all load through here, so a student is
scored exactly as a teacher is.
"""
import json
import os

import tensorflow as tf

from ind_prior_tf import networks
from ind_prior_tf.training import RunError

CKPT_SUBDIR = "ckpt"


def masks_of(model, images, flip_average=False):
  """The segmenter's soft masks of images [B, S, S, 3] (its input size); flip_average (not in the
  paper): the mean of its masks of the images and of their mirror images, mirrored back."""
  masks = model(images, training=False)
  if flip_average:
    masks = (masks + tf.reverse(model(tf.reverse(images, [2]), training=False), [2])) / 2.0
  return masks


def read_run_config(run_dir):
  path = os.path.join(run_dir, "flags.json")
  if not os.path.isfile(path):
    raise RunError(f"{path}: missing; is {run_dir} a training run directory?")
  try:
    with open(path) as f:
      return json.load(f)
  except ValueError as e:
    raise RunError(f"{path}: not valid JSON ({e})") from None


def unet_spec(config):
  """(image_size, width, upsample) of the UNet described by a run's config (flags.json as a dict)."""
  return (int(config.get("image_size", 128)), float(config.get("width", 1.0)),
          config.get("upsample", "deconv"))


def build_segmenter(config):
  """The UNet described by a run's config (flags.json as a dict)."""
  size, width, upsample = unet_spec(config)
  return networks.unet(size, width, upsample=upsample)


def latest_checkpoint(run_dir):
  ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, CKPT_SUBDIR))
  if ckpt is None:
    raise RunError(f"{os.path.join(run_dir, CKPT_SUBDIR)}: no checkpoint found")
  return ckpt


def load_segmenter(run_dir, checkpoint=None):
  """Returns (unet, config, checkpoint path) with the weights of the latest (or given) checkpoint."""
  config = read_run_config(run_dir)
  unet = build_segmenter(config)
  path = checkpoint or latest_checkpoint(run_dir)
  tf.train.Checkpoint(unet=unet).restore(path).expect_partial().assert_existing_objects_matched()
  return unet, config, path
