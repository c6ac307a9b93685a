"""The second application's GAN: N RGBA layers from one shared instance generator, each placed by the
structure-free pad-and-random-crop layout, alpha-composited over a background, trained against the
Table 2 discriminator with the area penalty (eq. 7) and an InfoGAN information term.

Its settings and presets: hoc_config.py; its pictures: hoc_figures.py; its blob score:
hoc_eval_lib.py. `train_run` is experiments.hoc's whole run: patches, backgrounds, flags.json, the
header line, training.
"""
import dataclasses
import time

import numpy as np
import tensorflow as tf

from ind_prior_tf.core import composition, layout, losses, networks, optimizers, precision, providers
from ind_prior_tf.data import images, pools
from ind_prior_tf.errors import RunError
from ind_prior_tf.hoc import figures as hoc_figures
from ind_prior_tf.hoc.config import PRESETS, HocConfig, config_fields  # noqa: F401 (re-exported)
from ind_prior_tf.runtime import devices, rundir, training


def make_backgrounds(patches, config):
  """The background pool of config.background (pools.disk_backgrounds): the real patches with a
  black disk of config.disk_radius px in the centre, all black, or (ours) the disk or the whole
  patch in the patch's median colour. (photo needs the whole photo: training_pools.)"""
  if config.background == "photo":
    raise RunError("--background=photo: the backgrounds come from the whole photo "
                   "(hoc_lib.training_pools)")
  return pools.disk_backgrounds(patches, config.disk_radius, mode=config.background)


def training_pools(image, window, stride, config, hflip=False, vflip=False):
  """(real patches, backgrounds), uint8 [P, S, S, 3]: make_patches of the photo and the backgrounds
  of config.background; for photo (ours) the same patches cut from the photo with its objects
  painted out by its own ground (cluster_estimate.ground_image), so that the composites' ground
  has the photo's shading and noise, not one flat colour."""
  real = make_patches(image, window, stride, config.image_size, hflip, vflip)
  if config.background != "photo":
    return real, make_backgrounds(real, config)
  from ind_prior_tf.hoc.instances import estimate as cluster_estimate  # pylint: disable=g-import-not-at-top
  ground = cluster_estimate.ground_image(image, seed=config.seed)
  return real, make_patches(ground, window, stride, config.image_size, hflip, vflip)


def resolve_color(config, image):
  """config with color "auto" replaced by "gray" when the photo (uint8 [H, W, 3]) is grey, its three
  channels equal, else by "rgb"; other configs as they are."""
  if config.color != "auto":
    return config
  image = np.asarray(image)
  grey = bool((image[..., :1] == image[..., :3]).all())
  return dataclasses.replace(config, color="gray" if grey else "rgb")


def make_patches(image, window, stride, out_size=64, hflip=False, vflip=False):
  """Real training patches uint8 [P, S, S, 3] (pools.extract_patches; DataError on bad sizes)."""
  return pools.extract_patches(image, window, stride, out_size=out_size, hflip=hflip, vflip=vflip)


def check_replicas(config, strategy):
  """RunError unless the global batch splits evenly over the strategy's replicas."""
  replicas = strategy.num_replicas_in_sync
  if config.batch_size % replicas:
    raise RunError(f"--batch_size={config.batch_size}: must divide evenly over {replicas} replicas")


class HocGAN:
  """Owns the generator, discriminator, Q network, optimizers and RNG, and the compiled train step.

  Q network (the paper gives none). q_input="carved" (default): ONE small Q (networks.q_network with
  code_dim = dim z) reads each layer's carved instance, RGB * alpha before the layout, and regresses
  that layer's own code. This is InfoGAN's Q(c | G(c)) applied to the thing each provider produces; the
  codes must show in what is actually pasted (premultiplied by alpha, so not hidden in transparent
  pixels), and it asks for nothing else: the term buys the diversity of appearances the paper uses it
  for. q_input="composite": one Q reads the composite and regresses all N * dim z codes at once. Layers
  under others are not recoverable from it, so the term then also rewards layers that show through
  each other (larger or fainter masks, against the area penalty), and its target depends on the
  stacking order; kept for comparison.
  """

  def __init__(self, config, strategy=None):
    self.config = c = config.validate()
    if c.color == "auto":
      raise RunError("--color=auto: resolve it against the photo first (hoc_lib.resolve_color)")
    self.strategy = strategy or tf.distribute.get_strategy()
    check_replicas(c, self.strategy)
    sync = self.strategy.num_replicas_in_sync > 1
    q_codes = c.n_layers * c.z_dim if c.q_input == "composite" else c.z_dim
    with self.strategy.scope():
      # Under a mixed policy the convs run in bf16/fp16; the generator's sigmoid, the layout, the
      # composition and the losses stay float32 (see precision.py).
      with precision.policy_scope(c.mixed_precision):
        self.generator = networks.instance_generator(c.z_dim, c.image_size, c.width,
                                                     upsample=c.upsample, sync_bn=sync,
                                                     gray=c.color == "gray", name="generator")
        self.discriminator = networks.sn_discriminator(c.image_size, c.d_width, last_channels=1024)
        self.q_network = networks.q_network(q_codes, c.image_size, c.width, sync_bn=sync)
      adam = lambda lr: optimizers.adam(lr, c.beta1, c.beta2)
      self.opt_g = precision.wrap_optimizer(adam(c.lr_g), c.mixed_precision)  # G and Q
      self.opt_d = precision.wrap_optimizer(adam(c.lr_d), c.mixed_precision)
      self.rng = tf.random.Generator.from_seed(c.seed)
      # Build the optimizer slots now, so that a checkpoint restores them at once (no deferred restore).
      self.opt_g.build(self.generator.trainable_variables + self.q_network.trainable_variables)
      self.opt_d.build(self.discriminator.trainable_variables)
    self._step = training.ReplicatedStep(self.strategy, self._replica_step, self.draw, jit=c.jit,
                                         jit_draw=True, batch_size=c.batch_size)

  def checkpoint_objects(self):
    return dict(generator=self.generator, discriminator=self.discriminator, q_network=self.q_network,
                opt_g=self.opt_g, opt_d=self.opt_d, rng=self.rng)

  # -- the generator of the paper: providers -> layout -> composition -------------------------------

  def backgrounds(self, bg_pool, rng, batch):
    """x_0: a random patch of bg_pool (see make_backgrounds; drawn independently of the real batch),
    or pure black."""
    size = self.config.image_size
    if self.config.background == "black":
      return tf.zeros([batch, size, size, 3])
    return providers.patch_provider(bg_pool, rng, batch, size, flip=False)[..., :3]

  def layout_offsets(self, rng, batch):
    """Each layer's random shift: where the pad-and-random-crop layout (layout.pad_and_random_crop)
    crops it from its padded canvas, [B, N, 2] (row, column) integers as float; zeros without pad."""
    c = self.config
    if not c.pad:
      return tf.zeros([batch, c.n_layers, 2])
    count = batch * c.n_layers
    rows = layout.random_offsets(rng, count, 2 * c.pad)
    cols = layout.random_offsets(rng, count, 2 * c.pad)
    return tf.reshape(tf.stack([rows, cols], -1), [batch, c.n_layers, 2])

  def generate(self, codes, backgrounds, rng, training, offsets=None):
    """codes [B, N, z] -> dict of instances [B, N, S, S, 4] (before layout), layers (after layout)
    and the composite [B, S, S, 3]. Every layer gets its own random shift: `offsets`
    (layout_offsets), or drawn from rng."""
    c = self.config
    instances = providers.noise_provider(self.generator, codes, training=training)
    s = c.image_size
    flat = tf.reshape(instances, [-1, s, s, 4])
    placed = flat
    if c.pad:
      if offsets is None:
        offsets = self.layout_offsets(rng, tf.shape(codes)[0])
      offsets = tf.reshape(offsets, [-1, 2])
      padded = tf.pad(flat, [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]])
      placed = layout.crop_at(padded, offsets[:, 0], offsets[:, 1], (s, s))
    layers = tf.reshape(placed, tf.shape(instances))
    return dict(instances=instances, layers=layers,
                composite=composition.alpha_composite(layers, backgrounds))

  def _info(self, out, codes):
    c = self.config
    if c.q_input in ("carved", "carved_gray"):
      carved = composition.carve(tf.reshape(out["instances"], [-1, c.image_size, c.image_size, 4]))
      if c.q_input == "carved_gray":
        # Q sees brightness and shape only, so the codes cannot hide in a tint the photo lacks.
        carved = tf.tile(tf.reduce_mean(carved, -1, keepdims=True), [1, 1, 1, 3])
      predicted = self.q_network(carved, training=True)
      return losses.info_loss(tf.reshape(codes, [-1, c.z_dim]), predicted)
    predicted = self.q_network(out["composite"], training=True)
    return losses.info_loss(tf.reshape(codes, [-1, c.n_layers * c.z_dim]), predicted)

  def draw(self, batch, real_pool, bg_pool):
    """The randomness of a global batch: real patches, background patches, codes and each layer's
    layout offsets (real, bg, codes, offsets), drawn in this order from self.rng."""
    c = self.config
    real = providers.patch_provider(real_pool, self.rng, batch, c.image_size, flip=False)[..., :3]
    bg = self.backgrounds(bg_pool, self.rng, batch)
    codes = providers.sample_codes(self.rng, batch, c.n_layers, c.z_dim)
    return real, bg, codes, self.layout_offsets(self.rng, batch)

  def _replica_step(self, real, bg, codes, offsets):
    """One replica's D step then G(+Q) step on its rows of the draws (see draw)."""
    c = self.config
    scale = 1.0 / self.strategy.num_replicas_in_sync
    g_vars = self.generator.trainable_variables + self.q_network.trainable_variables
    with tf.GradientTape() as g_tape:
      # One generator pass serves both steps: D learns on it (no gradient to G), then G is judged by
      # the updated D. Same as regenerating with the same noise, one G forward cheaper.
      out = self.generate(codes, bg, None, training=True, offsets=offsets)
      with g_tape.stop_recording():
        with tf.GradientTape() as d_tape:
          real_logits = self.discriminator(real, training=True)
          fake_logits = self.discriminator(tf.stop_gradient(out["composite"]), training=True)
          d_loss = losses.discriminator_loss(real_logits, fake_logits)
          # Replicas' gradients are summed: scale to the global mean (and up, for float16 loss scaling).
          scaled_d_loss = self.opt_d.scale_loss(d_loss * scale)
        d_vars = self.discriminator.trainable_variables
        self.opt_d.apply_gradients(zip(d_tape.gradient(scaled_d_loss, d_vars), d_vars))
      g_logits = self.discriminator(out["composite"], training=False)  # not renormalised: paper.md
      adv = losses.generator_loss(g_logits)
      masks = out["instances"][..., 3:]
      area = losses.area_penalty(masks, c.area_target, c.area_form)  # eq. 7: mean over all N masks
      info = self._info(out, codes) if c.beta else tf.constant(0.0)
      g_loss = adv + c.area_lambda * area + c.beta * info
      extra = self._mask_priors(masks)
      if c.hist_lambda:
        extra["hist_loss"] = self._hist_loss(out["composite"], real)
        g_loss += c.hist_lambda * extra["hist_loss"]
      for name, weight in (("support_loss", c.support_lambda), ("binary_loss", c.binary_lambda)):
        if name in extra:
          g_loss += weight * extra[name]
      scaled_g_loss = self.opt_g.scale_loss(g_loss * scale)
    self.opt_g.apply_gradients(zip(g_tape.gradient(scaled_g_loss, g_vars), g_vars))
    return dict(d_loss=d_loss, g_loss=g_loss, adv_loss=adv, area_loss=area, info_loss=info,
                mask_area=tf.reduce_mean(losses.mask_area(masks)),
                d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)), **extra)

  def _mask_priors(self, masks):
    """Our mask priors, only those switched on (so that the paper's step is unchanged without them):
    support_loss, the mean alpha outside the centred disk of radius image_size / 3: by the window rule
    (about 1.5x the largest instance) a whole instance, centred, fits in it, and the layout's shift
    does the placing, so alpha beyond it is an object off-centre or cut by its own frame, which
    lands off the canvas or shows a straight edge; binary_loss, the mean of m (1 - m): a faint mask
    blends the layers below into the instance."""
    c, out = self.config, {}
    masks = tf.cast(masks, tf.float32)
    if c.support_lambda:
      s = c.image_size
      outside = ~pools.centre_disk(s, s, s / 3)
      out["support_loss"] = tf.reduce_mean(masks * outside[..., None].astype(np.float32))
    if c.binary_lambda:
      out["binary_loss"] = tf.reduce_mean(masks * (1.0 - masks))
    return out

  def _hist_loss(self, composite, real):
    """Ours: losses.quantile_loss between the pixels inside the centre disk (config.disk_radius) of
    the composites and of the real patches. It asks the composites for the real disks' mixture of
    object and ground values, which a ground-coloured background (--background=ground or
    median_disk) cannot supply alone: the instances must bring the objects' values. Over a black
    disk the instances would have to cover all of it, ground included, as the paper's DSF-HOC
    images do."""
    s = self.config.image_size
    inside = np.flatnonzero(pools.centre_disk(s, s, self.config.disk_radius))
    pick = lambda x: tf.gather(tf.reshape(x, [-1, s * s, 3]), inside, axis=1)
    return losses.quantile_loss(pick(composite), pick(real))

  def train_step(self, real_pool, bg_pool):
    """One D step then one G(+Q) step. real_pool: the real patches, bg_pool: make_backgrounds of them,
    both [P, S, S, 3] uint8 (or float in [0, 1]), sampled for the global batch (draw) and split by
    replica. Returns the mean losses."""
    return self._step((), real_pool, bg_pool)

  # -- pictures -------------------------------------------------------------------------------------

  def figure_tensors(self, real_pool, bg_pool, n=8, seed=1234):
    """Everything Figures 8-11 show, for n samples from a fixed seed (comparable across steps, and
    self.rng is left untouched): numpy arrays in [0, 1]
      real [n,S,S,3], composite [n,S,S,3], appearance [n,N,S,S,3] (each layer's RGB before layout),
      mask [n,N,S,S,1] (its soft mask), carved [n,N,S,S,3] (RGB * alpha after layout, as pasted).
    """
    c = self.config
    rng = tf.random.Generator.from_seed(seed)
    real = providers.patch_provider(real_pool, rng, n, c.image_size, flip=False)[..., :3]
    bg = self.backgrounds(bg_pool, rng, n)
    codes = providers.sample_codes(rng, n, c.n_layers, c.z_dim)
    out = self.generate(codes, bg, rng, training=False)
    return dict(real=real.numpy(), composite=out["composite"].numpy(),
                appearance=out["instances"][..., :3].numpy(), mask=out["instances"][..., 3:].numpy(),
                carved=composition.carve(out["layers"]).numpy())

  def sample_instances(self, count, seed=0, batch=256):
    """`count` independent RGBA instances [count, S, S, 4] before layout (inference-mode generator)."""
    rng = tf.random.Generator.from_seed(seed)
    out = []
    for start in range(0, count, batch):
      n = min(batch, count - start)
      codes = rng.uniform([n, self.config.z_dim], -1.0, 1.0)
      out.append(self.generator(codes, training=False).numpy())
    return np.concatenate(out)

  def sample_masks(self, count, seed=0, batch=256):
    """Soft masks of `count` independent layers [count, S, S, 1] (sample_instances' alpha)."""
    return self.sample_instances(count, seed, batch)[..., 3:]


def run_model(run):
  """The HocConfig of a HOC run from its flags.json (a dict)."""
  return HocConfig(**{k: run[k] for k in config_fields() if k in run})


def restored_gan(model, checkpoint):
  """A HocGAN of `model` (run_model) with the generator of `checkpoint` restored."""
  gan = HocGAN(model)
  tf.train.Checkpoint(generator=gan.generator).restore(checkpoint).expect_partial()
  return gan


def train(config, real_pool, bg_pool, logdir, steps, *, strategy=None, log_every=50,
          save_every=1000, image_every=500, max_to_keep=3, progress=True, stream=None):
  """Trains (or resumes) a HocGAN in `logdir` up to global step `steps`.

  real_pool: the real patches, bg_pool: make_backgrounds(real_pool), uint8 [P, S, S, 3].
  Checkpoints go to <logdir>/ckpt (the generator saved as `generator`), TensorBoard events to
  <logdir>/tb, figures to <logdir>/figures, one JSON line per log step to <logdir>/metrics.jsonl.
  Losses are checked at every log step and before every save: a NaN or Inf raises
  training.NonFiniteLossError naming the step and the loss, and nothing is saved after it. Ctrl-C saves
  a checkpoint at the last finished step and returns. Returns a dict: step, status ('done' /
  'interrupted'), the last losses, the checkpoint, the figure paths and the training seconds.
  """
  gan = HocGAN(config, strategy)
  loop = training.TrainLoop(logdir, steps, gan.checkpoint_objects(), max_to_keep=max_to_keep,
                            log_every=log_every, save_every=save_every, progress=progress,
                            stream=stream)
  real_pool, bg_pool = tf.constant(real_pool), tf.constant(bg_pool)
  result = loop.result
  result.update(figures={}, seconds=0.0)
  if loop.finished:
    result["figures"] = hoc_figures.write_figures(gan, real_pool, bg_pool, logdir, loop.start)
    return result
  weights = gan.generator.variables + gan.discriminator.variables + gan.q_network.variables
  t0 = time.time()

  def on_figures(step):
    result["figures"] = hoc_figures.write_figures(gan, real_pool, bg_pool, logdir, step, loop.writer)

  loop.run(lambda step: gan.train_step(real_pool, bg_pool), weights,
           show=("d_loss", "adv_loss", "info_loss", "mask_area"),
           log_extra=lambda: dict(seconds=round(time.time() - t0, 1)), evaluate=on_figures,
           eval_every=image_every)
  result["seconds"] = time.time() - t0
  if not result["figures"]:
    result["figures"] = hoc_figures.write_figures(gan, real_pool, bg_pool, logdir, result["step"])
  return result


def train_run(run, log=print):
  """experiments.hoc's run (run: a validated hoc_config.HocRun): reads the image, cuts the patches
  and their backgrounds, then writes flags.json (refusing a logdir that holds a run with other flags
  unless run.overwrite), run.json and the header line (through `log`), and trains. Nothing is written
  before every check has passed. Returns train's result dict."""
  image = images.load_image_spec(run.image)
  run.config = config = resolve_color(run.config, image)
  logdir = run.run_dir()
  real, backgrounds = training_pools(image, run.window, run.stride, config, run.hflip, run.vflip)
  training.set_determinism(config.seed, run.deterministic)
  strategy = training.make_strategy(run.strategy)
  check_replicas(config, strategy)
  if run.overwrite:
    rundir.fresh_start(logdir, ("ckpt", "tb", "figures"), ("metrics.jsonl", "eval.json"))
  rundir.prepare_logdir(logdir, run.flags_json(len(real)), overwrite=run.overwrite,
                        defaults=dataclasses.asdict(HocConfig()), kind="hoc")
  where = devices.announce(logdir, strategy, config.mixed_precision,
                           training.use_jit(config.jit, strategy), log=log)
  log(f"hoc {run.preset} in {logdir}: {len(real)} patches of {run.window} px from "
      f"{run.image} ({image.shape[1]}x{image.shape[0]}), N={config.n_layers} dim z="
      f"{config.z_dim} a={config.area_target} lambda={config.area_lambda} beta={config.beta} "
      f"pad={config.pad}, {config.background} background, {config.color}, "
      f"width {config.width}/{config.d_width}, batch {config.batch_size}, "
      f"{run.steps} steps, {where}")
  return train(config, real, backgrounds, logdir, run.steps, strategy=strategy,
               log_every=run.log_every, save_every=run.save_every, image_every=run.image_every,
               max_to_keep=run.max_to_keep, progress=run.progress)
