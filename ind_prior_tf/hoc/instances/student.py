"""The instance student: a small UNet that reads a window of the cluster image and predicts, per
pixel, the foreground (an instance, not the background) and its centreness (the distance to the
instance's edge over its largest value, instances_data.centreness), trained on a HOC GAN's labelled
composites (instances_data) and their flips.

Why these two maps: touching instances merge in a foreground mask, but their centreness falls to 0
where they touch and rises to 1 at each centre, so the centres' cores (centreness above one half) are
separate seeds, and a seeded watershed of the centreness inside the foreground gives each instance
its pixels (instance_infer.instances_from_maps). Centreness is scale-free (a small instance peaks at 1
like a large one), unlike a distance map in px, and dense, unlike centre heatmaps or one-pixel
boundaries, which a 64 px window resolves poorly. StarDist and Cellpose use related targets.

The train step runs on training.ReplicatedStep and the loop on training.TrainLoop, as the other
applications' do: checkpoints in <student_dir>/ckpt (the network saved as `student`), metrics.jsonl,
TensorBoard events, resume, Ctrl-C.
"""
import dataclasses
import time

import keras
from keras import layers
import numpy as np
import tensorflow as tf

from ind_prior_tf.core import optimizers, precision
from ind_prior_tf.runtime import training

LEAK = 0.2


def instance_unet(image_size=64, width=1.0, levels=4, name="instance_student"):
  """Image in [0, 1] [B, S, S, 3] -> logits [B, S, S, 2] (foreground, centreness).

  Each level: two 3x3 convs (32, 64, 128, 256 channels times width) with batch norm and leaky ReLU,
  then a 2x2 max pool; the decoder upsamples bilinearly (no checkerboard), concatenates the encoder
  feature of the same size and applies two 3x3 convs. Four levels see about 100 px, more than an
  instance at the 64 px training scale (the window is ~1.5x the largest instance)."""
  if image_size % (2 ** levels):
    raise ValueError(f"image_size={image_size}: must be a multiple of {2 ** levels}")

  def block(x, channels, prefix):
    for i in range(2):
      x = layers.Conv2D(max(4, int(round(channels * width))), 3, padding="same", use_bias=False,
                        name=f"{prefix}_conv{i + 1}")(x)
      x = layers.BatchNormalization(name=f"{prefix}_bn{i + 1}")(x)
      x = layers.LeakyReLU(LEAK)(x)
    return x

  inp = keras.Input((image_size, image_size, 3), name="image")
  x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
  skips = []
  for level in range(levels):
    x = block(x, 32 * 2 ** level, f"enc{level + 1}")
    skips.append(x)
    x = layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)
  x = block(x, 32 * 2 ** levels, "middle")
  for level in reversed(range(levels)):
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level + 1}")(x)
    x = layers.Concatenate(name=f"skip{level + 1}")([x, skips[level]])
    x = block(x, 32 * 2 ** level, f"dec{level + 1}")
  x = layers.Conv2D(2, 1, dtype="float32", name="logits")(x)
  return keras.Model(inp, x, name=name)


@dataclasses.dataclass
class StudentConfig:
  """The student's network and optimisation (what its flags.json records)."""
  image_size: int = 64        # the HOC run's patch size: the student sees windows at the GAN's scale
  width: float = 0.5          # channel multiplier of instance_unet
  batch_size: int = 16
  lr: float = 1e-3            # Adam: the targets are fixed (supervised), so the larger step is safe
  hflip: bool = True          # the run's flips: only the symmetries its real patches had
  vflip: bool = True
  centre_weight: float = 1.0  # weight of the centreness loss against the foreground loss
  jit: bool = True
  seed: int = 0


def masked_losses(logits, targets):
  """Per-pixel binary cross-entropies of the two maps against targets [B, S, S, 3] in [0, 1]
  (foreground, centreness, weight), averaged over the pixels of weight > 0."""
  fg, centre, weight = targets[..., 0], targets[..., 1], targets[..., 2]
  bce = lambda t, l: tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=l)
  total = tf.maximum(tf.reduce_sum(weight), 1.0)
  fg_loss = tf.reduce_sum(bce(fg, logits[..., 0]) * weight) / total
  centre_loss = tf.reduce_sum(bce(centre, logits[..., 1]) * weight) / total
  return fg_loss, centre_loss


def flip_pairs(images, targets, hflips, vflips):
  """Images and targets flipped together: left-right where hflips, up-down where vflips ([B] bool)."""
  both = tf.concat([images, targets], -1)
  both = tf.where(hflips[:, None, None, None], tf.reverse(both, [2]), both)
  both = tf.where(vflips[:, None, None, None], tf.reverse(both, [1]), both)
  return both[..., :3], both[..., 3:]


class InstanceStudent:
  """Owns the student network, its optimizer and RNG, and the compiled train step."""

  def __init__(self, config, strategy=None):
    self.config = c = config
    self.strategy = strategy or tf.distribute.get_strategy()
    with self.strategy.scope():
      self.network = instance_unet(c.image_size, c.width)
      self.opt = optimizers.adam(c.lr)
      self.opt.build(self.network.trainable_variables)  # slots now, not inside the compiled step
      self.rng = tf.random.Generator.from_seed(c.seed)
    # instance_unet upsamples by bilinear resize: on CPU its step runs faster without XLA (use_jit).
    self._step = training.ReplicatedStep(self.strategy, self._replica_step, self.draw, jit=c.jit,
                                         upsample="resize")

  def checkpoint_objects(self):
    return dict(student=self.network, opt=self.opt, rng=self.rng)

  def draw(self, batch):
    """The randomness of a global batch: left-right and up-down flip decisions."""
    c = self.config
    h = self.rng.uniform([batch]) < 0.5 if c.hflip else tf.zeros([batch], tf.bool)
    v = self.rng.uniform([batch]) < 0.5 if c.vflip else tf.zeros([batch], tf.bool)
    return h, v

  def _replica_step(self, images, targets, hflips, vflips):
    scale = 1.0 / self.strategy.num_replicas_in_sync
    images, targets = flip_pairs(precision.unit_float(images), precision.unit_float(targets), hflips, vflips)
    with tf.GradientTape() as tape:
      logits = self.network(images, training=True)
      fg_loss, centre_loss = masked_losses(logits, targets)
      loss = fg_loss + self.config.centre_weight * centre_loss
      scaled_loss = loss * scale  # replicas' gradients are summed: scale to the global mean
    variables = self.network.trainable_variables
    self.opt.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
    return dict(loss=loss, fg_loss=fg_loss, centre_loss=centre_loss)

  def train_step(self, images, targets):
    return self._step((images, targets))


def predictor(network, batch=64):
  """A function windows uint8 [M, S, S, 3] -> maps float32 [M, S, S, 2] in [0, 1] (foreground,
  centreness), inference mode, in batches."""
  run = tf.function(lambda x: tf.sigmoid(network(precision.unit_float(x), training=False)))

  def predict(windows):
    out = [run(tf.constant(windows[i:i + batch])).numpy() for i in range(0, len(windows), batch)]
    return np.concatenate(out) if out else np.zeros(windows.shape[:3] + (2,), np.float32)
  return predict


def dataset(images, targets, batch_size, seed=0):
  """Shuffled, repeated batches of (uint8 image, uint8 targets) held in memory."""
  ds = tf.data.Dataset.from_tensor_slices((images, targets))
  ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def train(student, images, targets, logdir, steps, *, log_every=50, save_every=500, progress=True,
          stream=None, log=print):
  """Trains (or resumes) the student in `logdir` up to global step `steps` on images / targets
  (instances_data.make_dataset). Returns training.TrainLoop's result dict plus the seconds spent."""
  loop = training.TrainLoop(logdir, steps, student.checkpoint_objects(), log_every=log_every,
                            save_every=save_every, progress=progress, stream=stream)
  loop.result["seconds"] = 0.0
  if not loop.begin(log):
    return loop.result
  batches = iter(dataset(images, targets, student.config.batch_size,
                         seed=student.config.seed + loop.start))
  t0 = time.time()
  result = loop.run(lambda step: student.train_step(*next(batches)), student.network.variables,
                    show=("loss",), log_extra=lambda: dict(seconds=round(time.time() - t0, 1)))
  result["seconds"] = time.time() - t0
  return result
