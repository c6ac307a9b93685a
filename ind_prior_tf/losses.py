"""Losses of eq. 6-8, all reduced to scalar means over the local batch.

Eq. 7 as printed, L_G = E[log D(x_g)] + lambda L_area, has the wrong sign on the adversarial term
(minimising it would make fakes look fake). We use the non-saturating form -E[log D(x_g)] of Goodfellow
et al., and compute every BCE from logits for numerical safety.
"""
import tensorflow as tf

AREA_FORMS = ("squared", "batch_squared", "hinge", "linear")


def _f32(x):
  return tf.cast(x, tf.float32)


def discriminator_loss(real_logits, fake_logits):
  """-(E[log D(x)] + E[log(1 - D(x_g))]): eq. 6 as a quantity to minimise, averaged over D's patch."""
  real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
  real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
  fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
  return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(fake_logits):
  """Non-saturating -E[log D(x_g)] (eq. 7 with its sign fixed)."""
  fake_logits = _f32(fake_logits)
  return tf.reduce_mean(
      tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def mask_area(masks):
  """|m|_1 / A for every mask: masks [..., H, W, 1] -> [...]."""
  return tf.reduce_mean(_f32(masks), axis=[-3, -2, -1])


def area_penalty(masks, a, form="squared"):
  """The mask-area penalty L_area (to be weighted by lambda).

  masks: [B, H, W, 1] or [B, N, H, W, 1], soft masks in [0, 1]; a: the target area fraction.
    squared        as printed: mean over masks of (area - a)^2; pins EVERY mask to area a, whatever the
                   size of its object.
    batch_squared  (mean area - a)^2: constrains only the average area, so a large object may keep a
                   large mask when a small one takes a small mask.
    hinge          mean of max(area - a, 0)^2: no pull towards a from below, only a cap above it.
    linear         mean area (a is ignored): a constant push towards small masks, which the adversarial
                   loss must resist where the object needs cover.
  """
  area = mask_area(masks)
  if form == "squared":
    return tf.reduce_mean(tf.square(area - a))
  if form == "batch_squared":
    return tf.square(tf.reduce_mean(area) - a)
  if form == "hinge":
    return tf.reduce_mean(tf.square(tf.nn.relu(area - a)))
  if form == "linear":
    return tf.reduce_mean(area)
  raise ValueError(f"area penalty form {form!r}: expected one of {AREA_FORMS}")


def area_floor_penalty(masks, floor):
  """Mean over masks of max(floor - area, 0)^2 (ours, weighted by lambda like L_area).

  batch_squared lets the generator pay for one large mask with an empty one: a crop whose mask is
  empty becomes a plain background patch, and a weak discriminator lets that pass (measured on the
  Weizmann horses: whole groups of horses, e.g. the dark ones, get empty masks). A floor below the
  smallest plausible object fraction rules that out without pinning every mask to a.
  """
  return tf.reduce_mean(tf.square(tf.nn.relu(floor - mask_area(masks))))


def mask_total_variation(masks):
  """Mean |m(y+1, x) - m(y, x)| + mean |m(y, x+1) - m(y, x)| over masks [B, H, W, 1] (ours).

  For a binary mask this is its boundary length over the image area: a smoothness prior (the Potts term
  of graph-cut segmentation) that makes holes, stray specks and thin lines along image edges cost. At
  128 px the true horse masks score 0.053, a 128 px teacher's masks 0.075 (hollow bodies, fence lines).
  It halves when the image size doubles for the same shapes, so its weight is per resolution.
  """
  masks = _f32(masks)
  rows = tf.reduce_mean(tf.abs(masks[:, 1:] - masks[:, :-1]))
  cols = tf.reduce_mean(tf.abs(masks[:, :, 1:] - masks[:, :, :-1]))
  return rows + cols


def quantile_loss(fake, real):
  """Mean |sorted fake - sorted real| per channel (ours): the 1-D Wasserstein-1 distance between the
  two batches' pixel-value distributions, channel by channel. fake, real: [B, K, C] pixels, the same
  B * K in both. Unlike a mean-and-std match it sees a mixture's modes: a disk that is part bright
  object, part dark ground is not matched by a uniform mid-grey (the HOC coins, docs/hoc.md)."""
  fake, real = _f32(fake), _f32(real)
  channels = tf.shape(fake)[-1]
  fake = tf.sort(tf.transpose(tf.reshape(fake, [-1, channels])), axis=-1)
  real = tf.sort(tf.transpose(tf.reshape(real, [-1, channels])), axis=-1)
  return tf.reduce_mean(tf.abs(fake - real))


def info_loss(codes, predicted):
  """InfoGAN information term for continuous codes: a Gaussian log-likelihood with unit variance,
  up to a constant, i.e. 0.5 * mean squared error between the sampled and the recovered codes."""
  return 0.5 * tf.reduce_mean(tf.square(_f32(codes) - _f32(predicted)))


def smooth_l1(x):
  """Eq. 8: 4 x^2 where |x| < 0.25, |x| elsewhere (the two meet at |x| = 0.25, value 0.25)."""
  x = _f32(x)
  ax = tf.abs(x)
  return tf.where(ax < 0.25, 4.0 * tf.square(x), ax)


def distillation_loss(student_masks, teacher_masks):
  """Mean per-pixel smooth-L1 (eq. 8) between the student's and the teacher's masks."""
  return tf.reduce_mean(smooth_l1(_f32(student_masks) - _f32(teacher_masks)))
