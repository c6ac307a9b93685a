"""tf.data input pipelines of the first application: box crops for training, a fixed batch of masked
crops for evaluation, and the background pool as one tensor.

Small prepared sets (Weizmann horses, CUB) are held in memory as uint8 and only cast, flipped and batched
per step; big ones (CelebA) stream from the TFRecord shards with parallel PNG decoding. Either way the
hot loop is graph code: shuffle, repeat, batch (drop_remainder), one vectorised map (cast, resize,
horizontal flips), prefetch.
"""
import numpy as np
import tensorflow as tf

from ind_prior_tf.data import pools, prepared
from ind_prior_tf.errors import DataError

IN_MEMORY_BYTES = 1 << 30  # prepared sets up to 1 GiB of uint8 pixels are cached in memory


def _flip_batch(images, seed):
  """Flips every image left-right with probability 1/2 (stateless: reproducible for a seed)."""
  coin = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
  return tf.where(coin, tf.reverse(images, axis=[2]), images)


def _to_float(images, image_size):
  images = tf.cast(images, tf.float32)
  if images.shape[1] != image_size or images.shape[2] != image_size:
    images = tf.image.resize(images, [image_size, image_size], antialias=True)
  return images


def use_memory(prep_dir, split="all"):
  """True when the selected split of a prepared set fits the in-memory budget."""
  meta = prepared.read_meta(prep_dir)
  count = meta["count"] if split == "all" else meta["splits"][split]
  return count * meta["size"] ** 2 * 3 <= IN_MEMORY_BYTES


def training_dataset(prep_dir, batch_size, image_size, split="all", seed=0, flip=True,
                     in_memory=None, shuffle_buffer=4096):
  """Endless batches of box crops, float32 [batch_size, image_size, image_size, 3] in [0, 1].

  in_memory: None chooses by size (see use_memory); True loads every crop once; False streams the
  TFRecord shards. Raises DataError when the split holds fewer crops than one batch.
  """
  if in_memory is None:
    in_memory = use_memory(prep_dir, split)
  if in_memory:
    images = prepared.load_prepared_arrays(prep_dir, split)["images"]
    count = len(images)
    if count and images.shape[1] != image_size:  # resize once (in chunks), not every epoch
      images = np.concatenate([
          tf.cast(tf.round(tf.clip_by_value(_to_float(images[i:i + 512], image_size), 0, 255)),
                  tf.uint8).numpy() for i in range(0, count, 512)])
    ds = tf.data.Dataset.from_tensor_slices(images)  # uint8: 4x less memory than float
    scale = 1.0 / 255.0
  else:
    meta = prepared.read_meta(prep_dir)
    count = meta["count"] if split == "all" else meta["splits"][split]
    ds = prepared.prepared_dataset(prep_dir, split).map(lambda e: e["image"])
    scale = 1.0
  if count < batch_size:
    raise DataError(f"{prep_dir}: split {split!r} holds {count} crops, fewer than one "
                    f"batch of {batch_size}; lower --batch_size")
  ds = ds.shuffle(min(count, shuffle_buffer), seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.batch(batch_size, drop_remainder=True)

  def augment(index, images):
    images = _to_float(images, image_size) * scale
    return _flip_batch(images, tf.stack([tf.cast(seed, tf.int64), index])) if flip else images

  ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def eval_arrays(prep_dir, image_size, count=256, split="all"):
  """A fixed set of up to `count` crops that have masks, at the training size: (images float32
  [n, S, S, 3], masks float32 [n, S, S, 1]), or (None, None) when the set has no masks."""
  meta = prepared.read_meta(prep_dir)
  if not meta.get("has_masks"):
    return None, None
  ds = prepared.prepared_dataset(prep_dir, split, only_with_masks=True).take(count)
  ds = ds.batch(count).map(lambda e: (_to_float(e["image"], image_size),
                                      _to_float(e["mask"], image_size)))
  for images, masks in ds.as_numpy_iterator():
    return images, masks
  return None, None


def preview_images(prep_dir, image_size, count=8, split="all"):
  """The first `count` crops, for the image grids of sets without masks: float32 [n, S, S, 3]."""
  ds = prepared.prepared_dataset(prep_dir, split).take(count).batch(count)
  for e in ds.as_numpy_iterator():
    return _to_float(e["image"], image_size).numpy()
  raise DataError(f"{prep_dir}: split {split!r} is empty")


def load_pool(path, image_size):
  """The background pool as one float32 tensor [P, S, S, 3] in [0, 1], resized to the training size
  (so a background has the scale of a crop whatever size the pool was built at)."""
  patches = pools.load_pool(path)
  pool = tf.constant(patches, tf.float32) / 255.0
  if patches.shape[1] != image_size:
    pool = tf.clip_by_value(tf.image.resize(pool, [image_size, image_size], antialias=True), 0, 1)
  return pool
