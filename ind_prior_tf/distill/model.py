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
import os

import keras
import numpy as np
import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.core import augment, composition, losses, networks, optimizers, precision, providers
from ind_prior_tf.runtime import pictures, training


def teacher_labels(teacher, images, out_size=None, batch_size=32, flip_average=False):
  """The teacher's masks of uint8 (or [0, 1] float) images [N, S, S, 3], predicted once.

  Images are resized to the teacher's input size, masks to out_size (default: the images' size).
  flip_average (not in the paper): each mask is the mean of the teacher's masks of the image and of
  its mirror image (mirrored back), which removes the part of the teacher's error that changes with a
  mirror.
  Returns uint8 masks [N, out, out, 1] (the soft prediction times 255, rounded: a 1/255 step, far below
  anything the loss can see), a quarter of the memory of float32 for a whole dataset.
  """
  images = np.asarray(images)
  n, s = images.shape[0], images.shape[1]
  out_size = out_size or s
  predict = tf.function(lambda x: segmenter.predict(teacher, x, out_size, flip_average,
                                                     clip_input=True, mask_antialias=True))
  out = np.zeros([n, out_size, out_size, 1], np.uint8)
  for i in range(0, n, batch_size):
    x = images[i:i + batch_size]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    m = predict(tf.constant(x)).numpy()
    out[i:i + len(x)] = np.round(np.clip(m, 0.0, 1.0) * 255.0).astype(np.uint8)
  return out


def flip_consistency(teacher, images, teacher_masks, batch_size=32):
  """Per image [N], the IoU (at 0.5) of the teacher's masks teacher_masks (uint8, teacher_labels of
  images) with its masks of the mirrored images, mirrored back: 1 where the teacher sees the same
  object both ways. Needs no ground truth."""
  from ind_prior_tf.apply import metrics  # pylint: disable=g-import-not-at-top
  mirrored = teacher_labels(teacher, np.asarray(images)[:, :, ::-1], out_size=teacher_masks.shape[1],
                            batch_size=batch_size)[:, :, ::-1]
  return metrics.per_image_fg_iou(np.asarray(teacher_masks) / 255.0, mirrored / 255.0)


def most_consistent(scores, keep):
  """Indices (ascending) of the ceil(keep * N) images with the highest scores; ties broken by index."""
  n = len(scores)
  count = min(n, max(1, int(np.ceil(keep * n - 1e-9))))
  order = np.argsort(-np.asarray(scores), kind="stable")
  return np.sort(order[:count])


class Distiller:
  """Owns the student, its optimizer and RNG, and the compiled distillation step."""

  def __init__(self, config, teacher=None, strategy=None):
    self.config = c = config.validate_training()
    self.teacher = teacher  # only needed to label data (teacher_labels); frozen, never trained here
    self.strategy = strategy or tf.distribute.get_strategy()
    sync = self.strategy.num_replicas_in_sync > 1
    with self.strategy.scope():
      with precision.policy_scope(c.mixed_precision):
        self.student = networks.unet(c.image_size, c.width, upsample=c.upsample, sync_bn=sync)
        # With ema_decay the run delivers (saves as `unet`, scores) the moving average.
        self.student_ema = None
        if c.ema_decay:
          self.student_ema = networks.unet(c.image_size, c.width, upsample=c.upsample,
                                           name="unet_ema")
          training.copy_weights(self.student, self.student_ema)
      lr = (keras.optimizers.schedules.CosineDecay(c.lr, c.steps) if c.lr_decay == "cosine"
            else c.lr)
      self.opt = precision.wrap_optimizer(
          optimizers.adam(lr, c.beta1, c.beta2), c.mixed_precision)
      # Slots now: variables cannot be created inside the replicated, XLA-compiled step.
      self.opt.build(self.student.trainable_variables)
      self.rng = tf.random.Generator.from_seed(c.seed)
    # The composites are a dozen element-wise ops over the batch: compiled on their own, a quarter of
    # the time.
    self._compose = training.compiled_alone(self.compose, c.jit, self.strategy)
    # The moving average is updated in cross-replica context: every replica's copy gets the same one.
    self._step = training.ReplicatedStep(
        self.strategy, self._replica_step, self.draw, jit=c.jit, upsample=c.upsample,
        after_fn=self._update_ema if self.student_ema is not None else None)

  @property
  def segmenter(self):
    """The student the run delivers: the moving average when config.ema_decay > 0."""
    return self.student if self.student_ema is None else self.student_ema

  def checkpoint_objects(self):
    # The delivered student is saved as `unet`, so segmenter.load_segmenter reads a student like a
    # teacher; with EMA the trained one is saved beside it as `unet_train`, for a resumed run.
    objects = dict(unet=self.segmenter, opt=self.opt, rng=self.rng)
    if self.student_ema is not None:
      objects["unet_train"] = self.student
    return objects

  def _update_ema(self):
    training.update_moving_average(self.student_ema, self.student, self.config.ema_decay)

  def labels(self, teacher_masks):
    masks = precision.unit_float(teacher_masks)
    t = self.config.label_threshold
    return masks if t is None else tf.cast(masks > t, tf.float32)

  def draw(self, batch, pool, rng=None):
    """The randomness of a global batch: background patches (RGBA, alpha 1), flip decisions, which
    samples stay real images (config.real_fraction), and each sample's tint (augment.draw_tints; (1, 1)
    for the samples config.recolor leaves alone)."""
    c, rng = self.config, rng or self.rng
    backgrounds = providers.patch_provider(pool, rng, batch, c.image_size, flip=c.flip)
    flips = rng.uniform([batch]) < 0.5 if c.flip else tf.zeros([batch], tf.bool)
    real = rng.uniform([batch]) < c.real_fraction if c.real_fraction else tf.zeros([batch], tf.bool)
    return backgrounds, flips, real, augment.draw_tints(rng, batch, c.recolor)

  def compose(self, images, teacher_masks, backgrounds, flips, real, tint=None):
    """Inputs x m + b (1 - m) and labels m, each pair flipped together where flips is True; where
    real is True the input is x itself. x is recoloured by tint first (augment.recolor), when given.

    images [B, S, S, 3] and teacher_masks [B, S, S, 1] (uint8 or float in [0, 1]).
    """
    masks = self.labels(teacher_masks)
    images = precision.unit_float(images)
    if tint is not None and self.config.recolor:
      images = augment.recolor(images, tint)
    backgrounds = tf.where(real[:, None, None, None],
                           tf.concat([images, tf.ones_like(masks)], -1), backgrounds)
    inputs = composition.alpha_composite([backgrounds, tf.concat([images, masks], -1)])
    both = tf.concat([inputs, masks], -1)
    both = tf.where(flips[:, None, None, None], tf.reverse(both, [2]), both)
    return both[..., :3], both[..., 3:]

  def make_batch(self, images, teacher_masks, pool, rng=None):
    """Composites of the teacher's carved foregrounds over random pool patches (pool [P, H, W, 3],
    H, W >= S), and their labels: (inputs [B, S, S, 3], labels [B, S, S, 1])."""
    return self.compose(images, teacher_masks, *self.draw(tf.shape(images)[0], pool, rng))

  def loss_weights(self, labels, real):
    """None (every pixel counts), or with config.real_ignore_band = k: 0 on the real samples' pixels
    within k pixels of their label's edge (between its erosion and its dilation by a (2k+1) square),
    1 elsewhere."""
    k = self.config.real_ignore_band
    if not k:
      return None
    inside = tf.cast(labels > 0.5, tf.float32)
    pool = lambda x: tf.nn.max_pool2d(x, 2 * k + 1, 1, "SAME")
    band = pool(inside) - (1.0 - pool(1.0 - inside))  # dilation minus erosion
    return 1.0 - band * tf.cast(real, tf.float32)[:, None, None, None]

  def _replica_step(self, images, teacher_masks, backgrounds, flips, real, tint):
    """One replica's step on its rows of the batch and of the draws (see draw)."""
    scale = 1.0 / self.strategy.num_replicas_in_sync
    inputs, labels = self._compose(images, teacher_masks, backgrounds, flips, real, tint)
    weights = self.loss_weights(labels, real)
    with tf.GradientTape() as tape:
      predicted = self.student(inputs, training=True)
      loss = losses.distillation_loss(predicted, labels, weights)
      # Replicas' gradients are summed: scale to the global mean (and up, for float16 loss scaling).
      scaled_loss = self.opt.scale_loss(loss * scale)
    variables = self.student.trainable_variables
    self.opt.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
    return dict(loss=loss, mask_area=tf.reduce_mean(tf.cast(predicted, tf.float32)),
                label_area=tf.reduce_mean(labels))

  def train_step(self, images, teacher_masks, pool):
    """One step on a global batch (tensors) or a distributed one (per-replica values); returns the
    mean loss and mask areas."""
    return self._step((images, teacher_masks), pool)

  @tf.function
  def predict_masks(self, images):
    return self.segmenter(precision.unit_float(images), training=False)


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
  real = precision.unit_float(images)
  rows = [inputs, labels, distiller.predict_masks(inputs), real, distiller.labels(teacher_masks),
          distiller.predict_masks(real)]
  return pictures.image_grid([r.numpy() for r in rows])


def evaluate(distiller, images, masks, teacher_masks=None, batch_size=64):
  """Scores of the student on real crops: against ground-truth masks (fg_iou, miou, pixel_acc, as
  metrics.py defines them, plus mask_area), and, given the teacher's masks, its agreement with the
  teacher (iou_vs_teacher: mean per-image IoU with the teacher's mask, both at 0.5)."""
  from ind_prior_tf.apply import metrics  # pylint: disable=g-import-not-at-top
  counts, agree = metrics.SegCounts(), metrics.SegCounts()
  area = 0.0
  for i in range(0, len(images), batch_size):
    pred = distiller.predict_masks(tf.constant(images[i:i + batch_size])).numpy()
    counts.update(pred, masks[i:i + batch_size])
    if teacher_masks is not None:
      agree.update(pred, distiller.labels(teacher_masks[i:i + batch_size]).numpy())
    area += float(pred.mean()) * len(pred)
  scores = counts.scores()
  scores["mask_area"] = area / len(images)
  if teacher_masks is not None:
    scores["iou_vs_teacher"] = agree.scores()["fg_iou"]
  return scores


def teacher_scores(teacher_masks, masks):
  """The teacher's own scores, from the labels it gave (quantised to 1/255: equal to its scores at
  0.5 but for pixels within 1/510 of the threshold)."""
  from ind_prior_tf.apply import metrics  # pylint: disable=g-import-not-at-top
  soft = np.asarray(teacher_masks, np.float32) / (255.0 if teacher_masks.dtype == np.uint8 else 1.0)
  return metrics.segmentation_scores(soft, masks)


def train(distiller, images, teacher_masks, pool, logdir, steps=None, *, eval_data=None,
          log_every=100, save_every=1000, eval_every=500, max_to_keep=3, progress=True,
          preview=8, stream=None, log=print):
  """Trains (or resumes) the student in `logdir` up to global step `steps` (default config.steps).

  images, teacher_masks: uint8 [N, S, S, 3] / [N, S, S, 1] at the student's size (teacher_labels);
  pool: uint8 [P, H, W, 3] with H, W >= S. eval_data: optional (images, ground-truth masks, teacher
  masks) arrays at the student's size, scored every eval_every steps. Checkpoints go to <logdir>/ckpt
  (the student saved as `unet`, the contract of segmenter.load_segmenter), TensorBoard events to
  <logdir>/tb (scalars, and image grids of input / label / student), one JSON line per log and eval
  step to <logdir>/metrics.jsonl, the grids also to <logdir>/samples/<step>.png.

  Losses are checked at every log step and before every save: a NaN or Inf raises
  training.NonFiniteLossError naming the step and the loss, and nothing is saved after it, so the last
  checkpoint on disk is a good one. Ctrl-C saves a checkpoint at the last finished step and returns.
  Returns a dict: step, status ('done' / 'interrupted'), the last losses and eval scores, checkpoint.
  """
  c = distiller.config
  steps = steps or c.steps
  size = c.image_size
  if images.shape[1:3] != (size, size) or teacher_masks.shape[1:3] != (size, size):
    raise ValueError(f"images {images.shape} / masks {teacher_masks.shape}: expected {size}x{size}")
  if pool.shape[1] < size or pool.shape[2] < size:
    raise ValueError(f"background patches {pool.shape[1]}x{pool.shape[2]} are smaller than the "
                     f"student's {size}x{size} input")
  if c.batch_size % distiller.strategy.num_replicas_in_sync:
    raise ValueError(f"batch_size={c.batch_size}: not divisible by the "
                     f"{distiller.strategy.num_replicas_in_sync} replicas")
  loop = training.TrainLoop(logdir, steps, distiller.checkpoint_objects(), max_to_keep=max_to_keep,
                            log_every=log_every, save_every=save_every, progress=progress,
                            stream=stream)
  loop.result["eval"] = {}
  if not loop.begin(log):
    return loop.result
  start = loop.start
  # A different shuffle after a resume, still determined by the seed and the step.
  ds = dataset(images, teacher_masks, c.batch_size, seed=c.seed + start)
  if distiller.strategy.num_replicas_in_sync > 1:
    ds = distiller.strategy.experimental_distribute_dataset(ds)
  batches = iter(ds)
  pool = tf.constant(pool)
  samples = os.path.join(logdir, "samples")
  os.makedirs(samples, exist_ok=True)
  view_x, view_m = images[:preview], teacher_masks[:preview]

  if eval_data is not None and eval_every and start == 0:
    teacher = teacher_scores(eval_data[2], eval_data[1])
    with loop.writer.as_default(step=0):
      for k in ("fg_iou", "miou", "pixel_acc"):
        tf.summary.scalar(f"eval/teacher_{k}", teacher[k])
    loop.log_line(dict(step=0, teacher=teacher))

  def on_eval(step):
    if eval_data is not None:
      loop.log_eval(step, evaluate(distiller, *eval_data),
                    ("fg_iou", "miou", "pixel_acc", "mask_area", "iou_vs_teacher"))
    grid = preview_grid(distiller, view_x, view_m, pool, seed=c.seed + 1)
    tf.summary.image("preview/composite_label_student__real_teacher_student", grid, max_outputs=1)
    pictures.save_png(os.path.join(samples, f"{step:07d}.png"), grid)

  return loop.run(lambda step: distiller.train_step(*next(batches), pool),
                  distiller.student.variables, show=("loss",), evaluate=on_eval,
                  eval_every=eval_every)
