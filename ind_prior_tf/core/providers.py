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
  if pool.dtype == tf.uint8:
    pool = tf.cast(pool, tf.float32) / 255.0
  count = tf.shape(pool)[0]
  idx = tf.cast(tf.floor(rng.uniform([batch]) * tf.cast(count, tf.float32)), tf.int32)
  patches = tf.gather(pool, tf.minimum(idx, count - 1))
  h, w = pool.shape[1], pool.shape[2]
  size = size or h
  if (h, w) != (size, size):
    patches = layout.crop_at(patches, layout.random_offsets(rng, batch, h - size),
                             layout.random_offsets(rng, batch, w - size), (size, size))
  if flip:
    patches = layout.random_flip_left_right(patches, rng)
  return tf.concat([patches, tf.ones_like(patches[..., :1])], axis=-1)
