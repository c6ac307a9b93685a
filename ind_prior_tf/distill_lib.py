"""Data distillation (appendix, "Data Distillation in the First Application", eq. 8).

A student segmenter learns a frozen teacher obtained by adversarial training. Its inputs are composites
of the foregrounds the teacher carves out of real images, pasted over random background patches, with
horizontal flips; the label of a composite is the teacher's mask of the source image, flipped with it:
that mask is exactly what was pasted, so input and label always agree. The loss is the per-pixel
smooth-L1 of eq. 8, which is linear for large errors and so lets the student ignore the teacher's
occasional gross mistakes (the noise of unstable adversarial training) instead of fitting them.

The teacher is frozen and runs in inference mode, so its masks are computed once per image
(`teacher_labels`) rather than at every step.
"""
import dataclasses
import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from ind_prior_tf import composition, layout, losses, networks, providers, segmenter, training


@dataclasses.dataclass
class DistillConfig:
  image_size: int = 128       # the student's input size (default in the entry point: the teacher's)
  width: float = 1.0          # the student's UNet width multiplier (Table 1 at 1.0)
  upsample: str = "deconv"    # Table 1; "resize" removes checkerboard artifacts
  batch_size: int = 16        # global batch; the paper does not say
  # The paper gives no optimiser for the student. Its loss is supervised and stationary (the labels do
  # not move, unlike a GAN's), so plain Adam with a larger step converges fastest; beta1=0.5 (the GAN
  # setting) works too but more slowly in our runs.
  lr: float = 1e-3
  beta1: float = 0.9
  beta2: float = 0.999
  steps: int = 20000
  flip: bool = True           # horizontal flips of composites and labels together (and of backgrounds)
  # None: soft labels, the teacher's prediction as the paper says. A value t in (0, 1): carve and label
  # with the teacher's mask thresholded at t instead.
  label_threshold: Optional[float] = None
  jit: bool = True
  seed: int = 0


def validate_config(c):
  """Raises ValueError with a one-line message naming the bad field."""
  if c.image_size < 64 or c.image_size % 64:
    raise ValueError(f"image_size={c.image_size}: the UNet needs a positive multiple of 64")
  if not c.width > 0:
    raise ValueError(f"width={c.width}: must be > 0")
  if c.upsample not in ("deconv", "resize"):
    raise ValueError(f"upsample={c.upsample!r}: expected 'deconv' or 'resize'")
  if c.batch_size < 1:
    raise ValueError(f"batch_size={c.batch_size}: must be >= 1")
  if not c.lr > 0:
    raise ValueError(f"lr={c.lr}: must be > 0")
  if not (0 <= c.beta1 < 1 and 0 <= c.beta2 < 1):
    raise ValueError(f"beta1={c.beta1}, beta2={c.beta2}: must be in [0, 1)")
  if c.steps < 1:
    raise ValueError(f"steps={c.steps}: must be >= 1")
  if c.label_threshold is not None and not 0 < c.label_threshold < 1:
    raise ValueError(f"label_threshold={c.label_threshold}: must be in (0, 1) or None")


def resize_images(images, size):
  """Bilinear (antialiased) resize of float images in [0, 1] to size x size; a no-op at that size."""
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape[1] == size and images.shape[2] == size:
    return images
  return tf.clip_by_value(tf.image.resize(images, [size, size], antialias=True), 0.0, 1.0)


def teacher_labels(teacher, images, out_size=None, batch_size=32):
  """The teacher's masks of uint8 (or [0, 1] float) images [N, S, S, 3], predicted once.

  Images are resized to the teacher's input size, masks to out_size (default: the images' size).
  Returns uint8 masks [N, out, out, 1] (the soft prediction times 255, rounded: a 1/255 step, far below
  anything the loss can see), a quarter of the memory of float32 for a whole dataset.
  """
  images = np.asarray(images)
  n, s = images.shape[0], images.shape[1]
  t_size = teacher.input_shape[1]
  out_size = out_size or s
  predict = tf.function(
      lambda x: resize_images(teacher(resize_images(x, t_size), training=False), out_size))
  out = np.zeros([n, out_size, out_size, 1], np.uint8)
  for i in range(0, n, batch_size):
    x = images[i:i + batch_size]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    m = predict(tf.constant(x)).numpy()
    out[i:i + len(x)] = np.round(np.clip(m, 0.0, 1.0) * 255.0).astype(np.uint8)
  return out


def to_float(x):
  x = tf.convert_to_tensor(x)
  return tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)


class Distiller:
  """Owns the student, its optimizer and RNG, and the compiled distillation step."""

  def __init__(self, config, teacher=None, strategy=None):
    validate_config(config)
    self.config = c = config
    self.teacher = teacher  # only needed to label data (teacher_labels); frozen, never trained here
    self.strategy = strategy or tf.distribute.get_strategy()
    sync = self.strategy.num_replicas_in_sync > 1
    with self.strategy.scope():
      self.student = networks.unet(c.image_size, c.width, upsample=c.upsample, sync_bn=sync)
      self.opt = keras.optimizers.Adam(c.lr, beta_1=c.beta1, beta_2=c.beta2)
      self.rng = tf.random.Generator.from_seed(c.seed)
    self._step = None

  def checkpoint_objects(self):
    # The student is saved as `unet`, so segmenter.load_segmenter reads a student like a teacher.
    return dict(unet=self.student, opt=self.opt, rng=self.rng)

  def labels(self, teacher_masks):
    masks = to_float(teacher_masks)
    t = self.config.label_threshold
    return masks if t is None else tf.cast(masks > t, tf.float32)

  def make_batch(self, images, teacher_masks, pool, rng=None):
    """Composites of the teacher's carved foregrounds over random pool patches, and their labels.

    images [B, S, S, 3] and teacher_masks [B, S, S, 1] (uint8 or float in [0, 1]); pool [P, H, W, 3]
    with H, W >= S. Returns (inputs [B, S, S, 3], labels [B, S, S, 1]): inputs = x m + b (1 - m) and
    labels = m, the pair flipped together with probability 1/2 when config.flip.
    """
    c = self.config
    rng = rng or self.rng
    images, masks = to_float(images), self.labels(teacher_masks)
    size = images.shape[1]
    backgrounds = providers.patch_provider(pool, rng, tf.shape(images)[0], size, flip=c.flip)
    inputs = composition.alpha_composite([backgrounds, tf.concat([images, masks], -1)])
    if c.flip:
      both = layout.random_flip_left_right(tf.concat([inputs, masks], -1), rng)
      inputs, masks = both[..., :3], both[..., 3:]
    return inputs, masks

  def _replica_step(self, images, teacher_masks, pool):
    scale = 1.0 / self.strategy.num_replicas_in_sync
    inputs, labels = self.make_batch(images, teacher_masks, pool)
    with tf.GradientTape() as tape:
      predicted = self.student(inputs, training=True)
      loss = losses.distillation_loss(predicted, labels)
      scaled_loss = loss * scale  # replicas' gradients are summed: scale to the global mean
    variables = self.student.trainable_variables
    self.opt.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
    return dict(loss=loss, mask_area=tf.reduce_mean(predicted), label_area=tf.reduce_mean(labels))

  def train_step(self, images, teacher_masks, pool):
    """One step on a (global or distributed) batch; returns the mean loss and mask areas."""
    if self._step is None:
      replica = tf.function(self._replica_step, jit_compile=self.config.jit)

      def step(images, teacher_masks, pool):
        out = self.strategy.run(replica, args=(images, teacher_masks, pool))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in out.items()}

      self._step = tf.function(step)
    return self._step(images, teacher_masks, pool)

  @tf.function
  def predict_masks(self, images):
    return self.student(to_float(images), training=False)


def dataset(images, teacher_masks, batch_size, seed=0):
  """Shuffled, repeated batches of (uint8 image, uint8 teacher mask) held in memory."""
  ds = tf.data.Dataset.from_tensor_slices((images, teacher_masks))
  ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def preview_grid(distiller, images, teacher_masks, pool, seed=1):
  """Rows: composite inputs / labels / student on them / real images / teacher / student on them.

  Uses its own generator, so the same composites are drawn at every call.
  """
  rng = tf.random.Generator.from_seed(seed)
  inputs, labels = distiller.make_batch(images, teacher_masks, pool, rng=rng)
  real = to_float(images)
  rows = [inputs, labels, distiller.predict_masks(inputs), real, distiller.labels(teacher_masks),
          distiller.predict_masks(real)]
  return training.image_grid([r.numpy() for r in rows])


def real_image_scores(distiller, images, teacher_masks):
  """How well the student reproduces the teacher on real (not composited) images."""
  predicted = distiller.predict_masks(images)
  labels = distiller.labels(teacher_masks)
  p, t = predicted > 0.5, labels > 0.5
  inter = tf.reduce_sum(tf.cast(p & t, tf.float32), [1, 2, 3])
  union = tf.reduce_sum(tf.cast(p | t, tf.float32), [1, 2, 3])
  iou = tf.where(union > 0, inter / tf.maximum(union, 1.0), 1.0)
  return dict(real_loss=float(losses.distillation_loss(predicted, labels)),
              real_iou_vs_teacher=float(tf.reduce_mean(iou)))


def train(distiller, images, teacher_masks, pool, logdir, steps=None, log_every=100,
          save_every=1000, image_every=1000, max_to_keep=3, progress=True, preview=8):
  """The distillation loop with resume, finite-loss guard, progress bar, TensorBoard and checkpoints.

  images, teacher_masks: uint8 [N, S, S, 3] / [N, S, S, 1] at the student's size (see teacher_labels);
  pool: uint8 [P, H, W, 3]. Checkpoints go to <logdir>/ckpt (student under `unet`); TensorBoard
  events and sample grids (<logdir>/samples) to logdir. Returns the last step's losses.
  """
  c = distiller.config
  steps = steps or c.steps
  size = c.image_size
  if images.shape[1:3] != (size, size) or teacher_masks.shape[1:3] != (size, size):
    raise ValueError(f"images {images.shape} / masks {teacher_masks.shape}: expected {size}x{size}")
  if pool.shape[1] < size or pool.shape[2] < size:
    raise ValueError(f"background patches {pool.shape[1]}x{pool.shape[2]} are smaller than the "
                     f"student's {size}x{size} input")
  keeper = training.CheckpointKeeper(os.path.join(logdir, segmenter.CKPT_SUBDIR), max_to_keep,
                                     **distiller.checkpoint_objects())
  start = keeper.restore()
  if start >= steps:
    print(f"{logdir}: already at step {start} of {steps}; nothing to do")
    return {}
  # A different shuffle after a resume, still determined by the seed and the step.
  ds = dataset(images, teacher_masks, c.batch_size, seed=c.seed + start)
  batches = iter(distiller.strategy.experimental_distribute_dataset(ds))
  pool = tf.constant(pool)
  writer = tf.summary.create_file_writer(logdir)
  samples = os.path.join(logdir, "samples")
  os.makedirs(samples, exist_ok=True)
  view_x, view_m = images[:preview], teacher_masks[:preview]
  bar = training.ProgressBar(steps, start, enabled=progress)
  values = {}
  step = start
  try:
    for step in range(start + 1, steps + 1):
      x, m = next(batches)
      out = distiller.train_step(x, m, pool)
      values = {k: float(v) for k, v in out.items()}
      bar.update(step, loss=values["loss"])
      last = step == steps
      if step % log_every == 0 or last:
        training.check_finite(step, values, keeper)
        scores = real_image_scores(distiller, view_x, view_m)
        with writer.as_default(step=step):
          for k, v in {**values, **scores}.items():
            tf.summary.scalar(k, v)
      if step % image_every == 0 or last:
        grid = preview_grid(distiller, view_x, view_m, pool, seed=c.seed + 1)
        with writer.as_default(step=step):
          tf.summary.image("input_label_student__real_teacher_student", grid)
        training.save_png(os.path.join(samples, f"{step:07d}.png"), grid)
      if step % save_every == 0 or last:
        training.check_finite(step, values, keeper)
        keeper.save(step)
  except KeyboardInterrupt:
    # Keep the work done so far (a finite state only); the run resumes from here.
    if step > start and values and all(np.isfinite(list(values.values()))):
      keeper.save(step)
      print(f"\ninterrupted: saved step {step} to {keeper.latest}")
    raise
  finally:
    bar.close()
    writer.flush()
  return values

