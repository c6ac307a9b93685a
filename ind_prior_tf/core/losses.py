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
  of graph-cut segmentation) that makes holes, stray specks and thin lines along image edges cost
  (a teacher's hollow bodies and fence lines score above the true masks). It halves when the image
  size doubles for the same shapes, so its weight is per resolution.
  """
  masks = _f32(masks)
  rows = tf.reduce_mean(tf.abs(masks[:, 1:] - masks[:, :-1]))
  cols = tf.reduce_mean(tf.abs(masks[:, :, 1:] - masks[:, :, :-1]))
  return rows + cols


# BoxInst's colour affinity (Tian et al. 2021): neighbours 2 px apart in the 8 directions, similarity
# exp(-|lab_i - lab_j| / 2), and only pairs at least 0.3 similar (about 2.4 LAB units apart) count.
PAIRWISE_THETA, PAIRWISE_TAU, PAIRWISE_DILATION = 2.0, 0.3, 2
# sRGB (D65) to CIE XYZ, and the D65 white point.
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)


def rgb_to_lab(images):
  """CIE L*a*b* (L in [0, 100]) of sRGB images [..., 3] in [0, 1], as skimage.color.rgb2lab."""
  rgb = tf.clip_by_value(_f32(images), 0.0, 1.0)
  linear = tf.where(rgb > 0.04045, tf.pow((rgb + 0.055) / 1.055, 2.4), rgb / 12.92)
  xyz = tf.linalg.matvec(tf.constant(_RGB_TO_XYZ), linear) / tf.constant(_WHITE)
  e = (6.0 / 29.0) ** 3
  f = tf.where(xyz > e, tf.pow(tf.maximum(xyz, e), 1.0 / 3.0),
               xyz / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
  fx, fy, fz = tf.unstack(f, axis=-1)
  return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _neighbour_pairs(t, dy, dx):
  """The two ends (t[y, x], t[y + dy, x + dx]) of every pair inside t [B, H, W, C], for dy >= 0."""
  h, w = t.shape[1], t.shape[2]
  left, right = max(0, -dx), max(0, dx)
  return t[:, :h - dy, left:w - right], t[:, dy:, right:w - left]


def pairwise_affinity_loss(masks, images, theta=PAIRWISE_THETA, tau=PAIRWISE_TAU,
                           dilation=PAIRWISE_DILATION):
  """BoxInst's pairwise term (ours in this GAN; Tian et al. 2021, "BoxInst"): neighbouring pixels of
  nearly the same colour should get the same label.

  For each pair (i, j) of pixels `dilation` apart (horizontally, vertically, diagonally) whose colour
  similarity exp(-|lab_i - lab_j| / theta) is at least tau, the probability that the soft masks give
  both the same label is P = m_i m_j + (1 - m_i)(1 - m_j); the loss is the mean -log P over those
  pairs. Unlike the total variation (mask_total_variation), which makes every boundary cost, it lets a
  boundary run free along colour edges and makes it cost across uniform regions: masks follow the
  object's outline (the legs and the grass between them) instead of rounding it into a blob.
  masks [B, H, W, 1] in [0, 1], images [B, H, W, 3] in [0, 1]; 0 when no pair is similar enough.
  """
  masks = tf.clip_by_value(_f32(masks), 1e-6, 1.0 - 1e-6)
  lab = tf.stop_gradient(rgb_to_lab(images))
  d = dilation
  total, count = 0.0, 0.0
  for dy, dx in ((0, d), (d, 0), (d, d), (d, -d)):
    lab_i, lab_j = _neighbour_pairs(lab, dy, dx)
    m_i, m_j = _neighbour_pairs(masks, dy, dx)
    similar = tf.cast(tf.exp(-tf.norm(lab_i - lab_j, axis=-1, keepdims=True) / theta) >= tau,
                      tf.float32)
    same = m_i * m_j + (1.0 - m_i) * (1.0 - m_j)
    total += tf.reduce_sum(-tf.math.log(same) * similar)
    count += tf.reduce_sum(similar)
  return total / tf.maximum(count, 1.0)


def colour_model_loss(masks, images, bins=8, prior=1.0):
  """GrabCut's unary term (ours in this GAN; Rother et al. 2004, with histograms for its GMMs): each
  pixel should take the label whose colour model, fitted to the soft mask of its own image, explains
  its colour better.

  Every image's foreground and background colour histograms (bins^3 RGB bins, `prior` pseudo-count
  per bin) are weighted by m and 1 - m and held fixed (an EM step); the loss is the mean over pixels of
  -(m log p_fg(colour) + (1 - m) log p_bg(colour)). A mask that takes in some of the grass around a
  horse is pushed to give it back, since most of that image's grass, and so most of its grass
  colour, lies outside the mask. masks [B, H, W, 1] in [0, 1], images [B, H, W, 3] in [0, 1].
  """
  masks = _f32(masks)[..., 0]
  b = tf.shape(masks)[0]
  q = tf.cast(tf.clip_by_value(_f32(images), 0.0, 1.0) * (bins - 1) + 0.5, tf.int32)
  cell = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]            # [B, H, W]
  cell = cell + tf.range(b)[:, None, None] * bins ** 3                # one set of bins per image
  hist = lambda w: tf.reshape(tf.math.unsorted_segment_sum(
      tf.reshape(w, [-1]), tf.reshape(cell, [-1]), b * bins ** 3), [b, bins ** 3]) + prior
  fg, bg = tf.stop_gradient(hist(masks)), tf.stop_gradient(hist(1.0 - masks))
  log_fg = tf.math.log(fg / tf.reduce_sum(fg, axis=1, keepdims=True))
  log_bg = tf.math.log(bg / tf.reduce_sum(bg, axis=1, keepdims=True))
  flat = tf.reshape(cell, [-1])
  at = lambda table: tf.reshape(tf.gather(tf.reshape(table, [-1]), flat), tf.shape(masks))
  return -tf.reduce_mean(masks * at(log_fg) + (1.0 - masks) * at(log_bg))


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


def distillation_loss(student_masks, teacher_masks, weights=None):
  """Mean per-pixel smooth-L1 (eq. 8) between the student's and the teacher's masks; with `weights`
  (ours, the shape of the masks), their weighted mean."""
  per_pixel = smooth_l1(_f32(student_masks) - _f32(teacher_masks))
  if weights is None:
    return tf.reduce_mean(per_pixel)
  weights = _f32(weights)
  return tf.reduce_sum(weights * per_pixel) / tf.maximum(tf.reduce_sum(weights), 1.0)
