"""Layout module (eq. 4): geometric warps shared by an instance's RGB and alpha channels.

Everything here compiles under XLA (`tf.function(jit_compile=True)`): ImageProjectiveTransformV3, the op
behind tf.image / keras affine transforms, has no XLA kernel, so the warp is a small bilinear sampler
built from gathers, and the random crop is a pair of one-hot selection matmuls.
"""
import tensorflow as tf


def identity(rgba):
  """The first application's layout: no correction (delta r = 0)."""
  return rgba


def affine_theta(scale=1.0, tx=0.0, ty=0.0, angle=0.0):
  """A [..., 2, 3] matrix mapping output to input coordinates (normalized to [-1, 1], x first).

  A scale s > 1 makes the instance appear s times larger; (tx, ty) moves it by that fraction of the
  half-width; angle (radians) rotates it counter-clockwise.
  """
  s, tx, ty, a = (tf.cast(v, tf.float32) for v in (scale, tx, ty, angle))
  s, tx, ty, a = tf.broadcast_to(s, tf.shape(s + tx + ty + a)), tx + 0 * s, ty + 0 * s, a + 0 * s
  cos, sin = tf.cos(a) / s, tf.sin(a) / s
  # Inverse map: input = R(-a) / s * (output - t).
  row0 = tf.stack([cos, sin, -(cos * tx + sin * ty)], -1)
  row1 = tf.stack([-sin, cos, -(-sin * tx + cos * ty)], -1)
  return tf.stack([row0, row1], -2)


def affine_warp(images, theta, out_size=None):
  """Bilinear warp of [B, H, W, C] images by theta [B, 2, 3]; outside the input reads as zeros.

  Zeros matter: an RGBA instance moved off its canvas becomes transparent there. The gradient reaches
  both the images and theta.
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  b, h, w, c = shape[0], images.shape[1], images.shape[2], images.shape[3]
  oh, ow = out_size if out_size is not None else (h, w)
  ys = tf.linspace(-1.0, 1.0, oh)
  xs = tf.linspace(-1.0, 1.0, ow)
  gy, gx = tf.meshgrid(ys, xs, indexing="ij")
  grid = tf.stack([tf.reshape(gx, [-1]), tf.reshape(gy, [-1]), tf.ones([oh * ow])], 0)  # [3, P]
  src = tf.einsum("bij,jp->bip", tf.cast(theta, tf.float32), grid)  # [B, 2, P]
  # align_corners=True convention: -1 and 1 are the centres of the corner pixels.
  x = (src[:, 0] + 1.0) * 0.5 * (w - 1)
  y = (src[:, 1] + 1.0) * 0.5 * (h - 1)
  x0, y0 = tf.floor(x), tf.floor(y)
  flat = tf.reshape(images, [b, h * w, c])
  out = 0.0
  for dy in (0.0, 1.0):
    for dx in (0.0, 1.0):
      xi, yi = x0 + dx, y0 + dy
      weight = (1.0 - tf.abs(x - xi)) * (1.0 - tf.abs(y - yi))
      inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
      weight = tf.where(inside, weight, 0.0)
      idx = tf.cast(tf.clip_by_value(yi, 0, h - 1) * w + tf.clip_by_value(xi, 0, w - 1), tf.int32)
      pixels = tf.gather(flat, idx, batch_dims=1)  # [B, P, C]
      out += pixels * tf.cast(weight, images.dtype)[..., None]
  return tf.reshape(out, [b, oh, ow, c])


def random_affine_theta(rng, batch, scale=(1.0, 1.0), translate=0.0, angle=0.0):
  """Per-sample thetas with scale ~ U(scale), shifts ~ U(-translate, translate), angle ~ U(-angle, angle).

  The paper's layout prior for structure-free clusters: delta r ~ U(r_min, r_max).
  """
  u = rng.uniform([batch, 4])
  s = scale[0] + (scale[1] - scale[0]) * u[:, 0]
  tx = translate * (2.0 * u[:, 1] - 1.0)
  ty = translate * (2.0 * u[:, 2] - 1.0)
  a = angle * (2.0 * u[:, 3] - 1.0)
  return affine_theta(s, tx, ty, a)


def crop_at(images, offset_y, offset_x, size):
  """Per-sample crops images[b, oy:oy+size[0], ox:ox+size[1]] (XLA-friendly, exact, differentiable).

  Built as two one-hot selection matrices, so every output pixel is exactly one input pixel.
  """
  h, w = images.shape[1], images.shape[2]
  rows = tf.range(size[0])[None, :] + tf.cast(offset_y, tf.int32)[:, None]  # [B, size_h]
  cols = tf.range(size[1])[None, :] + tf.cast(offset_x, tf.int32)[:, None]
  sel_y = tf.one_hot(rows, h, dtype=images.dtype)  # [B, size_h, H]
  sel_x = tf.one_hot(cols, w, dtype=images.dtype)  # [B, size_w, W]
  return tf.einsum("byh,bhwc,bxw->byxc", sel_y, images, sel_x)


def random_offsets(rng, batch, max_offset):
  """Integer offsets uniform in [0, max_offset], one per sample (as float32 for the crop)."""
  u = rng.uniform([batch])
  return tf.minimum(tf.floor(u * (max_offset + 1)), float(max_offset))


def pad_and_random_crop(rgba, pad, rng, out_size=None, return_offsets=False):
  """The structure-free layout of the second application: zero-pad by `pad`, then crop at random.

  The instance moves by an integer shift in [-pad, pad] on each axis; where it leaves the window it is
  cut off, as objects are at the borders of real patches. Zero padding keeps alpha = 0 (transparent).
  """
  h, w = rgba.shape[1], rgba.shape[2]
  oh, ow = out_size if out_size is not None else (h, w)
  padded = tf.pad(rgba, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  batch = tf.shape(rgba)[0]
  oy = random_offsets(rng, batch, h + 2 * pad - oh)
  ox = random_offsets(rng, batch, w + 2 * pad - ow)
  out = crop_at(padded, oy, ox, (oh, ow))
  return (out, (oy, ox)) if return_offsets else out


def random_flip_left_right(images, rng):
  """Per-sample horizontal flips with probability 1/2 (XLA-friendly)."""
  flip = rng.uniform([tf.shape(images)[0]]) < 0.5
  return tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)


__all__ = ["identity", "affine_theta", "affine_warp", "random_affine_theta", "crop_at",
           "random_offsets", "pad_and_random_crop", "random_flip_left_right"]
