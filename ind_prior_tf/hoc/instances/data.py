"""Synthetic labelled data for the instance student: composites of a trained HOC GAN, each with the
label of every instance it shows.

A composite is N layers alpha-blended over a background in stacking order (eq. 5), so the share of
layer i in a pixel is exactly m_i * prod_{j > i} (1 - m_j) (what the layers above leave of it) and the
background's share is prod_j (1 - m_j). A pixel is labelled with the layer, or the background, whose
share exceeds one half (at most one can); pixels where no share does are soft edges of translucent
layers and are ignored by the loss. Like a labeller, we do not label an instance that is mostly
hidden (its visible part under `min_visible` of its mask in the window) or cut by the window's edge
(more than `max_cut` of its mask shifted out of the window by the layout), nor specks smaller than
`min_area`: their pixels are ignored, neither instance nor background. The real pixels of a disk
background (outside the black disk) are ignored too: they show real, unlabelled instances.

Targets per pixel: foreground (an instance), centreness (the distance to the instance's edge divided
by its largest value, 1 at the instance's centre and scale-free) and a loss weight (0 where ignored).
"""
import numpy as np
from scipy import ndimage

from ind_prior_tf.data import pools


def visible_shares(alphas):
  """alphas [N, H, W] soft masks, bottom layer first -> (shares [N, H, W], background share [H, W])."""
  alphas = np.asarray(alphas, np.float32)
  above = np.ones_like(alphas[0])
  shares = np.zeros_like(alphas)
  for i in range(len(alphas) - 1, -1, -1):
    shares[i] = alphas[i] * above
    above = above * (1.0 - alphas[i])
  return shares, above


def label_composite(layer_alphas, instance_alphas, known_background=None, *, min_visible=0.5,
                    max_cut=0.1, min_area=1, threshold=0.5):
  """The labels of one composite.

  layer_alphas [N, H, W]: each layer's mask after the layout (as composited), bottom first.
  instance_alphas [N, h, w]: the same masks before the layout (whole, the generator's output), or
    None when nothing can be cut.
  known_background [H, W] bool: where the background is known to hold no instance (the black disk);
    None: everywhere.
  Returns (labels int32 [H, W]: 0 background, 1..K the kept instances bottom first; ignore bool [H, W]).
  """
  shares, bg_share = visible_shares(layer_alphas)
  n = len(shares)
  best = shares.argmax(0)
  owner = np.where(shares.max(0) > threshold, best, -1)  # -1: no layer owns the pixel
  labels = np.zeros(owner.shape, np.int32)
  ignore = owner < 0
  ignore &= ~(bg_share > threshold)  # soft edges: neither a layer nor the background
  if known_background is not None:
    ignore |= (owner < 0) & ~known_background
  k = 0
  for i in range(n):
    visible = owner == i
    shown = int(visible.sum())
    if not shown:
      continue
    inside = int((np.asarray(layer_alphas[i]) > threshold).sum())
    whole = inside if instance_alphas is None else int(
        (np.asarray(instance_alphas[i]) > threshold).sum())
    cut = whole > 0 and inside < (1.0 - max_cut) * whole
    hidden = shown < min_visible * inside
    if whole < min_area or cut or hidden:
      ignore |= visible
      continue
    k += 1
    labels[visible] = k
  return labels, ignore


def centreness(labels):
  """Per instance, the Euclidean distance of each pixel to the nearest pixel outside it, divided by
  the instance's largest one: in (0, 1], 1 at its centre; 0 on the background. [H, W] float32."""
  out = np.zeros(labels.shape, np.float32)
  for k, box in enumerate(ndimage.find_objects(labels), start=1):
    if box is None:
      continue
    # One pixel of margin, so that an instance touching the crop's border still has an outside there.
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    inside = labels[box] == k
    dist = ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
    out[box] = np.where(inside, dist / max(dist.max(), 1e-6), out[box])
  return out


def targets(labels, ignore):
  """uint8 [H, W, 3]: foreground, centreness and loss weight, each times 255 (a quarter of float32's
  memory for a whole data set)."""
  fg = (labels > 0).astype(np.float32)
  weight = (~ignore).astype(np.float32)
  t = np.stack([fg, centreness(labels), weight], -1)
  return np.round(t * 255.0).astype(np.uint8)


def disk_region(size, radius):
  """[size, size] bool: the black centre disk of pools.disk_backgrounds (radius None: everywhere)."""
  if radius is None:
    return np.ones((size, size), bool)
  return pools.centre_disk(size, size, radius)


def label_batch(composites, layer_alphas, instance_alphas, known_background, **options):
  """One batch of composites [B, S, S, 3] in [0, 1] and their masks [B, N, S, S] (instances: before
  the layout, or None) -> (images uint8 [B, S, S, 3], targets uint8 [B, S, S, 3], the instances
  each shows [B])."""
  images = np.round(np.clip(np.asarray(composites), 0, 1) * 255).astype(np.uint8)
  out, counts = [], []
  for b in range(len(images)):
    labels, ignore = label_composite(layer_alphas[b],
                                     None if instance_alphas is None else instance_alphas[b],
                                     known_background, **options)
    out.append(targets(labels, ignore))
    counts.append(int(labels.max()))
  return images, np.stack(out), np.array(counts)


def gan_sampler(gan, bg_pool, seed=0):
  """A function batch -> (composites, layer masks, instance masks), numpy, from a trained HocGAN in
  inference mode over its own backgrounds (bg_pool: hoc_lib.make_backgrounds of the run's patches)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from ind_prior_tf.core import providers  # pylint: disable=g-import-not-at-top
  rng = tf.random.Generator.from_seed(seed)
  c = gan.config
  pool = tf.constant(bg_pool)

  @tf.function
  def draw(batch):
    bg = gan.backgrounds(pool, rng, batch)
    codes = providers.sample_codes(rng, batch, c.n_layers, c.z_dim)
    out = gan.generate(codes, bg, rng, training=False)
    return out["composite"], out["layers"][..., 3], out["instances"][..., 3]

  return lambda batch: tuple(x.numpy() for x in draw(tf.constant(batch)))


def make_dataset(sampler, count, known_background, batch=64, **options):
  """`count` labelled composites from sampler (see gan_sampler): images uint8 [count, S, S, 3],
  targets uint8 [count, S, S, 3] (see targets) and the instances each shows [count]."""
  images, tgts, counts = [], [], []
  done = 0
  while done < count:
    n = min(batch, count - done)
    composites, layers, instances = sampler(n)
    i, t, c = label_batch(composites, layers, instances, known_background, **options)
    images.append(i)
    tgts.append(t)
    counts.append(c)
    done += n
  return np.concatenate(images), np.concatenate(tgts), np.concatenate(counts)


def textured_table(rng, shape):
  """A dark table with smooth grain, float32 [H, W, 3] in [0, 1] (synthetic_cluster's background)."""
  table = 0.25 + 0.05 * ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
  return np.repeat(table[..., None], 3, -1) * np.array([0.9, 0.85, 0.8])


def textured_disc(rng, distance, radius):
  """The RGB of a disc of `radius` px given each pixel's distance to its centre [H, W]: a random tone,
  fine grain and a darker rim, as a coin's relief gives. float [H, W, 3] (valid inside the disc)."""
  tone = rng.uniform(0.55, 0.9)
  colour = tone * np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.5, 0.9)])
  texture = 1.0 + 0.12 * ndimage.gaussian_filter(rng.standard_normal(distance.shape), 1.0)
  shade = 1.0 - 0.35 * np.clip((distance - 0.75 * radius) / (0.25 * radius), 0, 1)
  return colour * (texture * shade)[..., None]


def synthetic_cluster(size=(192, 256), radii=(9, 16), count=60, seed=0, max_overlap=0.15):
  """A test image of a dense cluster with known labels: textured discs of several sizes on a textured
  table, touching and slightly overlapping (later discs on top). Returns (image uint8 [H, W, 3], labels
  int32 [H, W]: the visible part of each disc; discs left with under half of their area are dropped
  from the labels, like mostly hidden instances)."""
  rng = np.random.default_rng(seed)
  h, w = size
  yy, xx = np.mgrid[0:h, 0:w]
  image = textured_table(rng, (h, w))
  owner = np.zeros((h, w), np.int32)
  placed = []
  for _ in range(count * 50):
    if len(placed) == count:
      break
    r = rng.uniform(*radii)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    if placed and rng.uniform() < 0.8:  # most discs touch one already placed: a dense cluster
      py, px, pr = placed[rng.integers(len(placed))]
      angle, gap = rng.uniform(0, 2 * np.pi), (r + pr) * (1 - rng.uniform(0, max_overlap))
      cy, cx = py + gap * np.sin(angle), px + gap * np.cos(angle)
      if not (0 <= cy < h and 0 <= cx < w):
        continue
    # Touching or overlapping by at most max_overlap of the smaller radius, never one inside another.
    if any(np.hypot(cy - py, cx - px) < (1 - max_overlap) * (r + pr) - 1e-6 for py, px, pr in placed):
      continue
    placed.append((cy, cx, r))
    d = np.hypot(yy - cy, xx - cx)
    disc = d <= r
    image[disc] = textured_disc(rng, d, r)[disc]
    owner[disc] = len(placed)
  labels = np.zeros_like(owner)
  k = 0
  for i, (cy, cx, r) in enumerate(placed, start=1):
    shown = owner == i
    if shown.sum() >= 0.5 * np.pi * r * r:
      k += 1
      labels[shown] = k
  image = np.clip(image + 0.02 * rng.standard_normal(image.shape), 0, 1)
  return np.round(image * 255).astype(np.uint8), labels


def disc_sampler(seed, size=64, n_layers=5, radii=(12, 21), pad=24):
  """A known-shape stand-in for a trained HOC generator, for tests and the synthetic benchmark: a
  function batch -> (composites, layer masks, instance masks) like gan_sampler's, each layer one
  textured disc like synthetic_cluster's at a random shift of up to pad px (the layout), over the same
  table."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:size, 0:size]
  c = (size - 1) / 2

  def sample(batch):
    composites = np.zeros((batch, size, size, 3), np.float32)
    layers = np.zeros((batch, n_layers, size, size), np.float32)
    whole = np.zeros_like(layers)
    for b in range(batch):
      canvas = textured_table(rng, (size, size))
      for i in range(n_layers):
        r = rng.uniform(*radii)
        dy, dx = rng.integers(-pad, pad + 1, 2)
        whole[b, i] = np.clip(r + 0.5 - np.hypot(yy - c, xx - c), 0, 1)
        d = np.hypot(yy - c - dy, xx - c - dx)
        alpha = np.clip(r + 0.5 - d, 0, 1)[..., None]
        layers[b, i] = alpha[..., 0]
        canvas = textured_disc(rng, d, r) * alpha + canvas * (1 - alpha)
      composites[b] = canvas + 0.02 * rng.standard_normal(canvas.shape)
    return np.clip(composites, 0, 1), layers, whole
  return sample
