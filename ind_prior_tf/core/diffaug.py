"""Differentiable augmentation before the discriminator (not in the paper; ours, after DiffAugment:
Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

With a few hundred photos the discriminator learns the real crops by heart and wins. DiffAugment shows
it only randomly augmented images, real crops and composites alike, and lets the generator's gradients
flow back through the same kind of augmentation, so that D cannot tell real from fake by the
augmentation and the generator is not taught to produce augmented images.

The step's randomness is drawn for the global batch outside the replicas (training.ReplicatedStep):
`draw` returns one [B, PARAMS] tensor of per-image parameters, which replicas split by rows, and
`augment` applies them. Ops missing from the policy get neutral parameters, which leave images as
they are. Values are not clipped to [0, 1] (as in DiffAugment): clipping would stop the gradients
of saturated pixels.
"""
import tensorflow as tf

# Columns of the parameters, per image.
BRIGHTNESS, SATURATION, CONTRAST, SHIFT_Y, SHIFT_X, CUT_Y, CUT_X, CUT = range(8)
PARAMS = 8
# Parameters that change nothing: no brightness shift, factors 1, no shift, no cutout.
NEUTRAL = (0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
SHIFT_RATIO = 0.125  # translation by up to this fraction of the size (DiffAugment's)
CUTOUT_RATIO = 0.5   # the cutout square's side, a fraction of the size (DiffAugment's)


def draw(rng, batch, image_size, policy):
  """[batch, PARAMS] float32 parameters for `augment`, from the tf.random.Generator rng: for each op
  of `policy` (a tuple from choices.parse_diffaug) in the order of choices.DIFFAUG_OPS, else
  neutral.

  color: brightness + U(-0.25, 0.25), saturation x U(0, 2), contrast x U(0.5, 1.5) (DiffAugment's
    ranges on [-1, 1], scaled to images in [0, 1]);
  translation: shifts (dy, dx), integers in [-n, n] with n = round(size / 8);
  cutout: the centre (cy, cx) of a square of half the size, integers in [0, size], and CUT = 1.
  Draws nothing for an empty policy.
  """
  neutral = tf.tile(tf.constant([NEUTRAL], tf.float32), [batch, 1])
  columns = tf.unstack(neutral, axis=1)
  if "color" in policy:
    colour = rng.uniform([batch, 3], dtype=tf.float32)
    columns[BRIGHTNESS] = 0.5 * (colour[:, 0] - 0.5)
    columns[SATURATION] = 2.0 * colour[:, 1]
    columns[CONTRAST] = colour[:, 2] + 0.5
  if "translation" in policy:
    n = int(image_size * SHIFT_RATIO + 0.5)
    shift = tf.cast(rng.uniform([batch, 2], -n, n + 1, dtype=tf.int32), tf.float32)
    columns[SHIFT_Y], columns[SHIFT_X] = shift[:, 0], shift[:, 1]
  if "cutout" in policy:
    side = int(image_size * CUTOUT_RATIO + 0.5)
    centre = tf.cast(rng.uniform([batch, 2], 0, image_size + 1 - side % 2, dtype=tf.int32),
                     tf.float32)
    columns[CUT_Y], columns[CUT_X] = centre[:, 0], centre[:, 1]
    columns[CUT] = tf.ones([batch])
  return tf.stack(columns, axis=1)


def augment(images, params):
  """images [B, H, W, C] (in [0, 1]) augmented by params [B, PARAMS] (see draw), in the order colour,
  translation, cutout. Differentiable with respect to the images; compiles with XLA (gathers and
  masks, no image ops library)."""
  x = images
  p = tf.cast(params, x.dtype)
  per_image = lambda i: p[:, i, None, None, None]
  # Colour.
  x = x + per_image(BRIGHTNESS)
  grey = tf.reduce_mean(x, axis=-1, keepdims=True)
  x = (x - grey) * per_image(SATURATION) + grey
  mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
  x = (x - mean) * per_image(CONTRAST) + mean
  # Translation: out[i, j] = x[i - dy, j - dx], zero where that falls outside.
  h, w = x.shape[1], x.shape[2]
  shift = tf.cast(params[:, SHIFT_Y:SHIFT_X + 1], tf.int32)
  rows = tf.range(h)[None] - shift[:, :1]  # [B, H]
  cols = tf.range(w)[None] - shift[:, 1:]  # [B, W]
  x = tf.gather(x, tf.clip_by_value(rows, 0, h - 1), axis=1, batch_dims=1)
  x = tf.gather(x, tf.clip_by_value(cols, 0, w - 1), axis=2, batch_dims=1)
  inside = lambda i, n: (i >= 0) & (i < n)
  keep = inside(rows, h)[:, :, None, None] & inside(cols, w)[:, None, :, None]
  # Cutout: zero a square of half the size centred at (cy, cx) (clipped to the image).
  centre = tf.cast(params[:, CUT_Y:CUT_X + 1], tf.int32)
  side_h, side_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
  top = centre[:, :1] - side_h // 2
  left = centre[:, 1:] - side_w // 2
  in_rows = inside(tf.range(h)[None] - top, side_h)  # [B, H]
  in_cols = inside(tf.range(w)[None] - left, side_w)  # [B, W]
  cut = (params[:, CUT] > 0)[:, None, None, None]
  keep &= ~(cut & in_rows[:, :, None, None] & in_cols[:, None, :, None])
  return x * tf.cast(keep, x.dtype)
