"""Category-specific instance providers (Fig. 4): each returns RGBA instances in [0, 1]."""
import tensorflow as tf

from ind_prior_tf.core import layout


def segmentation_provider(segmenter, images, training):
  """Fig. 4, first case: an image and its inferred soft mask -> RGBA [B, H, W, 4]."""
  masks = segmenter(images, training=training)
  return tf.concat([tf.cast(images, masks.dtype), masks], axis=-1)


def sample_codes(rng, batch, n_layers, z_dim):
  """z ~ U(-1, 1), drawn independently for every layer of every sample: [B, N, z_dim]."""
  return rng.uniform([batch, n_layers, z_dim], -1.0, 1.0)


def noise_provider(generator, codes, training):
  """Fig. 4, second case: N layers from ONE shared generator, one code each.

  codes: [B, N, z_dim] (see sample_codes). Returns [B, N, S, S, 4]. The N layers share weights but not
  codes, so their appearances are independent: the independence prior.
  """
  b, n, d = tf.shape(codes)[0], codes.shape[1], codes.shape[2]
  flat = generator(tf.reshape(codes, [-1, d]), training=training)
  return tf.reshape(flat, tf.concat([[b, n], tf.shape(flat)[1:]], 0))


def patch_provider(pool, rng, batch, size=None, flip=True):
  """Fig. 4, third case: random patches of a background pool with alpha = 1.

  pool: [P, Hp, Wp, 3] float in [0, 1] (or uint8). Picks a patch at random per sample, a random
  size x size window of it when the pool is larger than the training size, and a random flip.
  """
  pool = tf.convert_to_tensor(pool)
  count = tf.shape(pool)[0]
  idx = tf.cast(tf.floor(rng.uniform([batch]) * tf.cast(count, tf.float32)), tf.int32)
  # Picked, then converted: a uint8 pool of thousands of patches converted whole at every step cost
  # a tenth of the student's step without XLA (docs/performance.md).
  patches = tf.gather(pool, tf.minimum(idx, count - 1))
  if patches.dtype == tf.uint8:
    patches = tf.cast(patches, tf.float32) / 255.0
  h, w = pool.shape[1], pool.shape[2]
  size = size or h
  if (h, w) != (size, size):
    # The window by indexing (no gradient flows into a pool): the same pixels as layout.crop_at's
    # one-hot products, at a fraction of their cost.
    rows = _window(layout.random_offsets(rng, batch, h - size), size)
    cols = _window(layout.random_offsets(rng, batch, w - size), size)
    patches = tf.gather(tf.gather(patches, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
  if flip:
    patches = layout.random_flip_left_right(patches, rng)
  return tf.concat([patches, tf.ones_like(patches[..., :1])], axis=-1)


def _window(offsets, size):
  """[B, size] indices offset + 0 .. size - 1 of float offsets [B] (layout.random_offsets)."""
  return tf.range(size)[None, :] + tf.cast(offsets, tf.int32)[:, None]
