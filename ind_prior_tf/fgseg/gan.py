"""The first application's GAN: a UNet foreground provider and a background patch provider,
composited with the identity layout and trained with the adversarial loss and the area penalty.
Its config, FgSegConfig, is ind_prior_tf/fgseg/config.py's (TensorFlow-free); a whole run from a
config (data, run directory, training) is fgseg_run.run."""
import os

import tensorflow as tf

from ind_prior_tf import choices
from ind_prior_tf.apply import metrics
from ind_prior_tf.core import (
  augment,
  composition,
  diffaug,
  losses,
  networks,
  optimizers,
  precision,
  providers,
)
from ind_prior_tf.fgseg.config import FgSegConfig  # noqa: F401 (re-exported)
from ind_prior_tf.runtime import pictures, training


def removal_images(images, masks, fill, backgrounds):
  """The two inputs of the removal term (not in the paper; ours).

  The paper's discriminator sees only what a mask keeps, so nothing stops a mask from keeping the
  background and dropping the object when the two share their looks (an inverted mask over a white
  horse keeps as much "horse-like" area as the right one). The removal term looks at what a mask
  leaves: a crop with its mask's region replaced by a background patch must look like background.
  Returns (removed, background_like) [B, H, W, 3]:
    removed          images * (1 - m) + fill * m, the crop with its foreground cut out and filled;
    background_like  a background patch given the hole of another crop's mask, filled the same way,
                     so that a second discriminator cannot tell the two apart by the hole's seam, only
                     by what the crop leaves outside its mask.
  """
  masks = tf.cast(masks, images.dtype)
  removed = images * (1.0 - masks) + fill * masks
  other = tf.stop_gradient(tf.roll(masks, shift=1, axis=0))
  return removed, backgrounds * (1.0 - other) + fill * other


def tightness_loss(masks):
  """The tight-box prior (not in the paper; Lempitsky et al. 2009): a crop by a tight box has object in
  every row and every column, so the largest mask value of each row and of each column should be 1.
  Mean of (1 - max)^2 over the rows and columns of masks [B, H, W, 1]. It asks for the thin parts that
  reach the box's sides (legs, tails, heads), which the area penalty alone lets the masks drop."""
  masks = tf.cast(masks, tf.float32)
  rows = tf.reduce_max(masks, axis=[2, 3])  # [B, H]
  cols = tf.reduce_max(masks, axis=[1, 3])  # [B, W]
  return 0.5 * (tf.reduce_mean(tf.square(1.0 - rows)) + tf.reduce_mean(tf.square(1.0 - cols)))


def border_loss(masks):
  """The border prior (not in the paper; ours, the boundary prior of saliency detection): a tight box
  meets its object only where the object reaches its sides (hooves, ears, nose, tail), so most of a
  crop's outermost ring is background. Mean mask value over the ring of width max(1, size // 32) of
  masks [B, H, W, 1]. An inverted mask (the ground kept, the horse dropped) fills the ring, a right
  one does not; the colour terms, blind to which side is which, need that cue."""
  masks = tf.cast(masks, tf.float32)
  h, w = masks.shape[1], masks.shape[2]
  k = max(1, min(h, w) // 32)
  ring = tf.pad(tf.zeros([h - 2 * k, w - 2 * k]), [[k, k], [k, k]], constant_values=1.0)
  return tf.reduce_sum(masks * ring[None, :, :, None]) / (tf.reduce_sum(ring) * tf.cast(
      tf.shape(masks)[0], tf.float32))


class FgSegGAN:
  """Owns the networks, optimizers and RNG, and the compiled D-then-G train step."""

  def __init__(self, config, strategy=None):
    self.config = c = config
    self.strategy = strategy or tf.distribute.get_strategy()
    sync = self.strategy.num_replicas_in_sync > 1
    with self.strategy.scope():
      with precision.policy_scope(c.mixed_precision):
        self.unet = networks.unet(c.image_size, c.width, upsample=c.upsample, sync_bn=sync)
        # The averaged UNet is the run's segmenter: GAN weights keep moving around a good solution
        # (the masks' shape changes from one evaluation to the next), their average sits near it.
        self.unet_ema = None
        if c.ema_decay:
          self.unet_ema = networks.unet(c.image_size, c.width, upsample=c.upsample, name="unet_ema")
          training.copy_weights(self.unet, self.unet_ema)
        self.discriminator = networks.sn_discriminator(c.image_size, c.d_width, last_channels=256)
        # The removal term's discriminator: background patches against crops with the foreground cut out.
        self.bg_discriminator = None
        if c.removal_lambda:
          self.bg_discriminator = networks.sn_discriminator(c.image_size, c.d_width, last_channels=256,
                                                            name="bg_discriminator")
      adam = lambda lr: optimizers.adam(lr, c.beta1, c.beta2)
      self.opt_g = precision.wrap_optimizer(adam(c.lr_g), c.mixed_precision)
      self.opt_d = precision.wrap_optimizer(adam(c.lr_d), c.mixed_precision)
      # Slots now: variables cannot be created inside the replicated, XLA-compiled step.
      self.opt_g.build(self.unet.trainable_variables)
      self.opt_d.build(self.discriminator.trainable_variables)
      self.opt_bg = None
      if self.bg_discriminator is not None:
        self.opt_bg = precision.wrap_optimizer(adam(c.lr_d), c.mixed_precision)
        self.opt_bg.build(self.bg_discriminator.trainable_variables)
      self.rng = tf.random.Generator.from_seed(c.seed)
    self.diffaug = choices.parse_diffaug(c.diffaug)
    # The pairwise term is some thirty element-wise ops over every pixel pair: compiled on their own
    # they run in under half the time.
    self._pairwise = training.compiled_alone(losses.pairwise_affinity_loss, c.jit, self.strategy)
    # The moving average is updated in cross-replica context: every replica's copy gets the same one.
    self._step = training.ReplicatedStep(
        self.strategy, self._replica_step, self.draw, jit=c.jit, upsample=c.upsample,
        after_fn=self._update_ema if self.unet_ema is not None else None)

  @property
  def segmenter(self):
    """The UNet whose masks the run delivers: the moving average when ema_decay > 0."""
    return self.unet_ema if self.unet_ema is not None else self.unet

  def checkpoint_objects(self):
    """The delivered segmenter is saved as `unet` (segmenter.load_segmenter's contract); with EMA the
    trained UNet is saved beside it as `unet_train`, so that a resumed run goes on training it."""
    objects = dict(unet=self.segmenter, discriminator=self.discriminator, opt_g=self.opt_g,
                   opt_d=self.opt_d, rng=self.rng)
    if self.unet_ema is not None:
      objects["unet_train"] = self.unet
    if self.bg_discriminator is not None:
      objects.update(bg_discriminator=self.bg_discriminator, opt_bg=self.opt_bg)
    return objects

  def warm_start(self, checkpoint):
    """Loads the UNet (and its moving average) from another run's checkpoint, whose `unet` is a
    segmenter of the same architecture (a teacher or a distilled student): a fresh run then starts
    adversarial training from those masks instead of from random weights."""
    tf.train.Checkpoint(unet=self.unet).restore(checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    if self.unet_ema is not None:
      training.copy_weights(self.unet, self.unet_ema)

  def _update_ema(self):
    training.update_moving_average(self.unet_ema, self.unet, self.config.ema_decay)

  def fake_images(self, images, backgrounds, training):
    """Composite of the carved foregrounds over the background patches, and the masks used: the
    image with its mask (providers.segmentation_provider) blended over the patch, the two-layer
    composition.alpha_composite([patch, alpha 1], [image, mask]) to the bit. Blended directly, so
    that the G step's gradient does not pass through slices of an RGBA stack."""
    masks = self.unet(images, training=training)
    return composition.over(tf.cast(images, masks.dtype), masks, backgrounds), masks

  def draw(self, batch, pool):
    """The randomness of a global batch: the background patches the composites go over, the tints
    (augment.draw_tints), with the removal term two more sets of patches, its fill and its reals, and
    with diffaug the augmentation parameters of the real crops and, drawn independently, of the
    composites (drawn last, so that runs without it keep their random streams)."""
    c = self.config
    bg = providers.patch_provider(pool, self.rng, batch, c.image_size, flip=c.flip)[..., :3]
    more = ()
    if self.bg_discriminator is not None:
      more = providers.patch_provider(pool, self.rng, 2 * batch, c.image_size, flip=c.flip)
      more = tuple(tf.split(more[..., :3], 2))
    tint = augment.draw_tints(self.rng, batch, c.recolor)
    if self.diffaug:
      more += tuple(diffaug.draw(self.rng, batch, c.image_size, self.diffaug) for _ in "rf")
    return (bg, tint) + more

  def _replica_step(self, images, bg, tint, *more):
    """One replica's D step then G step on its rows of the batch and of the draws (see draw)."""
    c = self.config
    fill, bg_other = more[:2] if self.bg_discriminator is not None else (None, None)
    # DiffAugment (ours): D sees real crops and composites augmented, each by its own draw; the G step
    # reuses the composites' draw, and its gradients reach the masks through the augmentation. The
    # removal term's discriminator sees its images as they are.
    see, aug_real, aug_fake = (lambda x, params: x), None, None
    if self.diffaug:
      see, (aug_real, aug_fake) = diffaug.augment, more[-2:]
    scale = 1.0 / self.strategy.num_replicas_in_sync
    if c.recolor:  # a crop and the patch it is composited over share a tint: colour is no cue to D
      images, bg = augment.recolor(images, tint), augment.recolor(bg, tint)
    # One UNet forward serves both steps (D's update does not change the UNet): the G tape records it
    # here and resumes for the G step, the D step reads the composites without gradient.
    g_tape = tf.GradientTape()
    with g_tape:
      fake, masks = self.fake_images(images, bg, training=True)
    # D step: real box crops against composites from the current masks.
    with tf.GradientTape() as tape:
      real_logits = self.discriminator(see(images, aug_real), training=True)
      fake_logits = self.discriminator(see(tf.stop_gradient(fake), aug_fake), training=True)
      d_loss = losses.discriminator_loss(real_logits, fake_logits)
      # Replicas' gradients are summed: scale to the global mean (and up, for float16 loss scaling).
      scaled_d_loss = self.opt_d.scale_loss(d_loss * scale)
    d_vars = self.discriminator.trainable_variables
    self.opt_d.apply_gradients(zip(tape.gradient(scaled_d_loss, d_vars), d_vars))
    removal, bg_loss = tf.zeros([]), tf.zeros([])
    if self.bg_discriminator is not None:
      with g_tape:
        removed, background_like = removal_images(images, masks, fill, bg_other)
      with tf.GradientTape() as tape:
        bg_loss = losses.discriminator_loss(
            self.bg_discriminator(background_like, training=True),
            self.bg_discriminator(tf.stop_gradient(removed), training=True))
        scaled_bg_loss = self.opt_bg.scale_loss(bg_loss * scale)
      b_vars = self.bg_discriminator.trainable_variables
      self.opt_bg.apply_gradients(zip(tape.gradient(scaled_bg_loss, b_vars), b_vars))
    # G step: the UNet learns masks whose composites fool the updated D, under the area penalty.
    # training=False: D's kernels as its Adam step left them, not renormalised (docs/paper.md).
    with g_tape:
      fake_logits = self.discriminator(see(fake, aug_fake), training=False)
      adv = losses.generator_loss(fake_logits)
      # Eq. 7's 1/N read as the foreground alone: the background's mask is constant (docs/paper.md).
      area = losses.area_penalty(masks, c.area_target, c.area_form)
      if c.area_floor:
        area += losses.area_floor_penalty(masks, c.area_floor)
      # A term weighted 0 is still computed and logged, outside the gradient: its backward pass
      # would only add zeros, at a cost (the total variation's slices: milliseconds a step on CPU).
      held = lambda weight: masks if weight else tf.stop_gradient(masks)
      binarized = held(c.binarize_lambda)
      binary = tf.reduce_mean(binarized * (1.0 - binarized))
      tight = tightness_loss(held(c.tight_lambda))
      border = border_loss(held(c.border_lambda))
      smooth = losses.mask_total_variation(held(c.smooth_lambda))
      pairwise = self._pairwise(masks, images) if c.pairwise_lambda else tf.zeros([])
      unary = losses.colour_model_loss(masks, images) if c.unary_lambda else tf.zeros([])
      if self.bg_discriminator is not None:
        removal = losses.generator_loss(self.bg_discriminator(removed, training=False))
      g_loss = (adv + self.area_weight() * area + c.binarize_lambda * binary
                + c.tight_lambda * tight + c.border_lambda * border + c.smooth_lambda * smooth
                + c.pairwise_lambda * pairwise + c.unary_lambda * unary + c.removal_lambda * removal)
      scaled_g_loss = self.opt_g.scale_loss(g_loss * scale)
    g_vars = self.unet.trainable_variables
    self.opt_g.apply_gradients(zip(g_tape.gradient(scaled_g_loss, g_vars), g_vars))
    return dict(d_loss=d_loss, g_loss=g_loss, adv_loss=adv, area_loss=area, binary_loss=binary,
                tight_loss=tight, border_loss=border, smooth_loss=smooth, pairwise_loss=pairwise,
                unary_loss=unary, removal_loss=removal, bg_d_loss=bg_loss,
                mask_area=tf.reduce_mean(losses.mask_area(masks)),
                d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))

  def area_weight(self):
    """lambda, ramped up over the first area_warmup G steps (opt_g.iterations is checkpointed)."""
    c = self.config
    if not c.area_warmup:
      return c.area_lambda
    ramp = tf.cast(self.opt_g.iterations, tf.float32) / float(c.area_warmup)
    return c.area_lambda * tf.minimum(1.0, ramp)

  def train_step(self, images, pool):
    """One D step then one G step on a global batch of box crops (a tensor, or per-replica values);
    returns the mean losses."""
    return self._step((images,), pool)

  @tf.function
  def predict_masks(self, images):
    return self.segmenter(images, training=False)


def evaluate_masks(gan, images, masks, batch_size=64):
  """Scores of the UNet's masks (inference mode) on arrays of crops and ground-truth masks."""
  counts = metrics.SegCounts()
  area = 0.0
  for i in range(0, len(images), batch_size):
    pred = gan.predict_masks(tf.constant(images[i:i + batch_size])).numpy()
    counts.update(pred, masks[i:i + batch_size])
    area += float(pred.sum()) / pred[0].size
  scores = counts.scores()
  scores["mask_area"] = area / len(images)
  return scores


def preview_grid(gan, images, backgrounds):
  """Rows: input, soft mask, carved foreground, composite over fixed backgrounds (inference mode)."""
  images = tf.constant(images)
  composite, masks = gan.fake_images(images, tf.constant(backgrounds), training=False)
  carved = composition.carve(tf.concat([images, masks], -1))
  return pictures.image_grid([images, masks, carved, composite])


def train(config, dataset, pool, logdir, steps, *, strategy=None, eval_data=None, preview=None,
          log_every=50, save_every=1000, eval_every=500, max_to_keep=3, progress=True,
          init_unet=None, stream=None, log=print):
  """Trains (or resumes) a FgSegGAN in `logdir` up to global step `steps`.

  dataset: endless batches of crops (data.pipeline.training_dataset); pool: background patches, float32
  [P, S, S, 3]; eval_data: (images, masks) arrays scored every eval_every steps (or None); preview:
  crops for the image grids (defaults to the eval images); init_unet: a checkpoint whose `unet` a fresh
  run starts from (FgSegGAN.warm_start; ignored when resuming). Checkpoints go to <logdir>/ckpt (the UNet
  saved as `unet`, the contract of segmenter.load_segmenter), TensorBoard events to <logdir>/tb, one
  JSON line per log / eval step to <logdir>/metrics.jsonl, the preview grids (input, mask, carved,
  composite) also to <logdir>/samples/<step>.png.

  Losses are checked at every step (and the weights before every save): a NaN or Inf raises
  training.NonFiniteLossError naming the step and the loss, and nothing is saved after it, so the last
  checkpoint on disk is a good one. Ctrl-C saves a checkpoint at the last finished step and returns.
  Returns a dict: step, status ('done' / 'interrupted'), the last losses and eval scores.
  """
  gan = FgSegGAN(config, strategy)
  strategy = gan.strategy
  loop = training.TrainLoop(logdir, steps, gan.checkpoint_objects(), max_to_keep=max_to_keep,
                            log_every=log_every, save_every=save_every, progress=progress,
                            stream=stream)
  loop.result["eval"] = {}
  if not loop.begin(log):
    return loop.result
  if init_unet and not loop.start:
    gan.warm_start(init_unet)
    log(f"UNet initialised from {init_unet}")
  if preview is None and eval_data is not None:
    preview = eval_data[0]
  if preview is not None:
    preview = preview[:8]
    preview_bg = tf.gather(pool, tf.range(len(preview)) * (pool.shape[0] // len(preview)))
  if strategy.num_replicas_in_sync > 1:
    dataset = strategy.experimental_distribute_dataset(dataset)
  batches = iter(dataset)
  weights = gan.unet.variables + gan.discriminator.variables
  if gan.bg_discriminator is not None:
    weights += gan.bg_discriminator.variables

  def train_step(step):
    out = gan.train_step(next(batches), pool)
    # Reading the losses every step costs little (a CPU step is synchronous anyway) and a NaN is
    # then reported at the step where it appears.
    training.check_finite(step, out, loop.keeper)
    return out

  def on_eval(step):
    if eval_data is not None:
      loop.log_eval(step, evaluate_masks(gan, *eval_data),
                    ("fg_iou", "miou", "pixel_acc", "mask_area"))
    if preview is not None:
      grid = preview_grid(gan, preview, preview_bg)
      tf.summary.image("preview/input_mask_carved_composite", grid, max_outputs=1)
      os.makedirs(os.path.join(logdir, "samples"), exist_ok=True)  # as distill writes its grids
      pictures.save_png(os.path.join(logdir, "samples", f"{step:07d}.png"), grid)

  return loop.run(train_step, weights, show=("d_loss", "g_loss", "mask_area"), evaluate=on_eval,
                  eval_every=eval_every)
