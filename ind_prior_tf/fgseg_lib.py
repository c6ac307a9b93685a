"""The first application's GAN: a UNet foreground provider and a background patch provider,
composited with the identity layout and trained with the adversarial loss and the area penalty."""
import dataclasses

import keras
import tensorflow as tf

from ind_prior_tf import composition, losses, networks, precision, providers, training


@dataclasses.dataclass
class FgSegConfig:
  image_size: int = 128       # Table 1
  width: float = 1.0          # UNet width multiplier
  d_width: float = 1.0        # discriminator width multiplier
  batch_size: int = 16        # global batch; the paper does not say
  lr_d: float = 2e-4
  lr_g: float = 4e-4
  beta1: float = 0.5
  beta2: float = 0.999
  area_lambda: float = 1000.0  # Table 3
  area_target: float = 0.25    # Table 3
  area_form: str = "squared"   # as printed; see losses.area_penalty for the variants
  upsample: str = "deconv"     # Table 1; "resize" removes checkerboard artifacts
  flip: bool = True            # horizontal flips of the backgrounds (and of the inputs, in the pipeline)
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0


class FgSegGAN:
  """Owns the networks, optimizers and RNG, and the compiled D-then-G train step."""

  def __init__(self, config, strategy=None):
    self.config = c = config
    self.strategy = strategy or tf.distribute.get_strategy()
    sync = self.strategy.num_replicas_in_sync > 1
    with self.strategy.scope():
      with precision.policy_scope(c.mixed_precision):
        self.unet = networks.unet(c.image_size, c.width, upsample=c.upsample, sync_bn=sync)
        self.discriminator = networks.sn_discriminator(c.image_size, c.d_width, last_channels=256)
      adam = lambda lr: keras.optimizers.Adam(lr, beta_1=c.beta1, beta_2=c.beta2)
      self.opt_g = precision.wrap_optimizer(adam(c.lr_g), c.mixed_precision)
      self.opt_d = precision.wrap_optimizer(adam(c.lr_d), c.mixed_precision)
      # Slots now: variables cannot be created inside the replicated, XLA-compiled step.
      self.opt_g.build(self.unet.trainable_variables)
      self.opt_d.build(self.discriminator.trainable_variables)
      self.rng = tf.random.Generator.from_seed(c.seed)
    self._step = None

  def checkpoint_objects(self):
    return dict(unet=self.unet, discriminator=self.discriminator, opt_g=self.opt_g,
                opt_d=self.opt_d, rng=self.rng)

  def fake_images(self, images, backgrounds, training):
    """Composite of the carved foregrounds over the background patches, and the masks used."""
    fg = providers.segmentation_provider(self.unet, images, training=training)
    bg = tf.concat([backgrounds, tf.ones_like(backgrounds[..., :1])], -1)
    return composition.alpha_composite([bg, fg]), fg[..., 3:]

  def _replica_step(self, images, backgrounds, split_images):
    c = self.config
    scale = 1.0 / self.strategy.num_replicas_in_sync
    images = training.replica_slice(images) if split_images else images
    bg = training.replica_slice(backgrounds)
    # One UNet forward serves both steps (D's update does not change the UNet): the G tape records it
    # here and resumes for the G step, the D step reads the composites without gradient.
    g_tape = tf.GradientTape()
    with g_tape:
      fake, masks = self.fake_images(images, bg, training=True)
    # D step: real box crops against composites from the current masks.
    with tf.GradientTape() as tape:
      real_logits = self.discriminator(images, training=True)
      fake_logits = self.discriminator(tf.stop_gradient(fake), training=True)
      d_loss = losses.discriminator_loss(real_logits, fake_logits)
      # Replicas' gradients are summed: scale to the global mean (and up, for float16 loss scaling).
      scaled_d_loss = self.opt_d.scale_loss(d_loss * scale)
    d_vars = self.discriminator.trainable_variables
    self.opt_d.apply_gradients(zip(tape.gradient(scaled_d_loss, d_vars), d_vars))
    # G step: the UNet learns masks whose composites fool the updated D, under the area penalty.
    with g_tape:
      fake_logits = self.discriminator(fake, training=False)
      adv = losses.generator_loss(fake_logits)
      area = losses.area_penalty(masks, c.area_target, c.area_form)
      g_loss = adv + c.area_lambda * area
      scaled_g_loss = self.opt_g.scale_loss(g_loss * scale)
    g_vars = self.unet.trainable_variables
    self.opt_g.apply_gradients(zip(g_tape.gradient(scaled_g_loss, g_vars), g_vars))
    return dict(d_loss=d_loss, g_loss=g_loss, adv_loss=adv, area_loss=area,
                mask_area=tf.reduce_mean(losses.mask_area(masks)),
                d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))

  def train_step(self, images, pool):
    """One D step then one G step on a global batch of box crops; returns the mean losses."""
    if self._step is None:
      c = self.config
      replica = tf.function(self._replica_step, jit_compile=training.use_jit(c.jit, self.strategy))

      def step(images, pool):
        # The randomness is drawn here, once for the global batch, and split by replica: R replicas
        # see exactly the backgrounds one device would, and the pool is not copied to every replica.
        split_images = not isinstance(images, tf.distribute.DistributedValues)
        batch = training.global_batch_size(images, self.strategy)
        bg = providers.patch_provider(pool, self.rng, batch, c.image_size, flip=c.flip)[..., :3]
        out = self.strategy.run(replica, args=(images, bg, split_images))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in out.items()}

      self._step = tf.function(step)
    return self._step(images, pool)

  @tf.function
  def predict_masks(self, images):
    return self.unet(images, training=False)
