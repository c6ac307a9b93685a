"""Recolouring (not in the paper): the category's shapes in colours its images rarely have.

A GAN teacher learns the colours most of its category has (brown horses) and its masks fail on the
rest (grey and white horses: docs/fgseg.md). Recolouring a fraction of the images, each by a random
desaturation and gamma, shows the networks the same shapes in other colours. Distillation recolours
the pasted foregrounds (distill_lib); adversarial training recolours a real crop and the background
patch it is composited over by the same tint, so that the colours tell the discriminator nothing
about which is which (fgseg_lib).
"""
import numpy as np
import tensorflow as tf

GAMMA_RANGE = (0.25, 2.0)


def recolor(images, tint):
  """images [B, S, S, 3] in [0, 1] moved toward their grey level, (1 - s) grey + s x, then raised to
  the power g, with (s, g) = tint [B, 2]; (1, 1) leaves an image as it is."""
  s, g = tint[:, 0, None, None, None], tint[:, 1, None, None, None]
  grey = tf.reduce_mean(images, axis=-1, keepdims=True)
  return tf.pow(grey + s * (images - grey), g)


def draw_tints(rng, batch, fraction):
  """[batch, 2] tints (s, g) for recolor: with probability `fraction` s ~ U(0, 1) and g log-uniform in
  GAMMA_RANGE, else (1, 1). Draws from the tf.random.Generator rng only when fraction > 0, so that
  runs without recolouring keep their random streams."""
  tint = tf.ones([batch, 2])
  if not fraction:
    return tint
  lo, hi = np.log(GAMMA_RANGE[0]), np.log(GAMMA_RANGE[1])
  drawn = tf.stack([rng.uniform([batch]), tf.exp(rng.uniform([batch], lo, hi))], axis=1)
  return tf.where((rng.uniform([batch]) < fraction)[:, None], drawn, tint)
