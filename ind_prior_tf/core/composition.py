"""Composition module (eq. 5): recursive alpha blending in stacking order."""
import tensorflow as tf


def alpha_composite(layers, background=None):
  """Blends RGBA layers, bottom first: x_i = I_i * m_i + x_{i-1} * (1 - m_i).

  layers: [B, N, H, W, 4] (or a list of N [B, H, W, 4] tensors), RGB and alpha in [0, 1].
  background: x_0, [B, H, W, 3]; None means the paper's pure black canvas.
  Returns the composite [B, H, W, 3].
  """
  # Layers blended one by one as given: stacked and then sliced, every slice's gradient would be a
  # zero-filled tensor of the whole stack (a tenth of a small GAN step on CPU).
  layers = list(layers) if isinstance(layers, (list, tuple)) else tf.unstack(layers, axis=1)
  canvas = tf.zeros_like(layers[0][..., :3]) if background is None else tf.cast(
      background, layers[0].dtype)
  for layer in layers:
    canvas = over(layer[..., :3], layer[..., 3:], canvas)
  return canvas


def over(rgb, alpha, canvas):
  """One step of eq. 5: rgb [B, H, W, 3] with alpha [B, H, W, 1] blended onto canvas [B, H, W, 3]."""
  return rgb * alpha + canvas * (1.0 - alpha)


def carve(rgba):
  """An instance as it is pasted: RGB premultiplied by its alpha (the rows of the paper's figures)."""
  return rgba[..., :3] * rgba[..., 3:]
