"""Composition module (eq. 5): recursive alpha blending in stacking order."""
import tensorflow as tf


def alpha_composite(layers, background=None):
  """Blends RGBA layers, bottom first: x_i = I_i * m_i + x_{i-1} * (1 - m_i).

  layers: [B, N, H, W, 4] (or a list of N [B, H, W, 4] tensors), RGB and alpha in [0, 1].
  background: x_0, [B, H, W, 3]; None means the paper's pure black canvas.
  Returns the composite [B, H, W, 3].
  """
  if isinstance(layers, (list, tuple)):
    layers = tf.stack(layers, axis=1)
  canvas = tf.zeros_like(layers[:, 0, ..., :3]) if background is None else tf.cast(
      background, layers.dtype)
  for i in range(layers.shape[1]):
    rgb, alpha = layers[:, i, ..., :3], layers[:, i, ..., 3:]
    canvas = rgb * alpha + canvas * (1.0 - alpha)
  return canvas


def carve(rgba):
  """An instance as it is pasted: RGB premultiplied by its alpha (the rows of the paper's figures)."""
  return rgba[..., :3] * rgba[..., 3:]
