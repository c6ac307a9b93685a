"""The second application's GAN: N RGBA layers from one shared instance generator, each placed by the
structure-free pad-and-random-crop layout, alpha-composited over a background, trained against the
Table 2 discriminator with the area penalty (eq. 7) and an InfoGAN information term.

Also: the Table 4 presets, the figure grids of Figures 8-11
and the blob benchmark (how many learned masks are exactly one object of the right size).
"""
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from ind_prior_tf import (composition, layout, losses, networks, precision, providers,
                          training)
from ind_prior_tf import pictures
from ind_prior_tf.data import pools

Q_INPUTS = ("carved", "composite")
BACKGROUNDS = ("disk", "black")

# Table 4, plus the offline coins presets. Data keys (window, stride, flips) describe the patches; the
# rest are HocConfig fields. The paper's images are not distributed: crowd/fruit/seed take --image and
# --window (about 1.5x the width of the largest instance, in px of the image).
PRESETS = {
    "crowd": dict(n_layers=8, area_lambda=1000.0, z_dim=6, area_target=0.1, beta=50.0, pad=30,
                  hflip=False, vflip=False, steps=30000),
    "fruit": dict(n_layers=10, area_lambda=1000.0, z_dim=5, area_target=0.25, beta=50.0, pad=32,
                  hflip=True, vflip=True, steps=30000),
    "seed": dict(n_layers=12, area_lambda=1000.0, z_dim=2, area_target=0.25, beta=50.0, pad=26,
                 hflip=True, vflip=True, steps=30000),
    # skimage.data.coins(): 24 coins of 35-65 px on a dark table. Window 96 = 1.5x the largest coin
    # (65 px); at 64/96 scale the coins cover 0.12-0.34 of a patch (mean 0.18), hence a = 0.18.
    # Coins are isotropic, so both flips are fair augmentation.
    "coins": dict(image="skimage:coins", window=96, stride=8, hflip=True, vflip=True, n_layers=5,
                  z_dim=4, area_lambda=1000.0, area_target=0.18, beta=50.0, pad=32, steps=20000),
    # A quarter-width version for 2 CPU cores (about 5 minutes): resize-conv upsampling, because with
    # Table 2's transposed convs the masks stayed diffuse, checkered clouds (0% single blobs after 3000
    # steps), and 6 layers of dim z 5 (90% single coin-size blobs at step 1000; 4 layers: 45%).
    "coins_cpu": dict(image="skimage:coins", window=96, stride=8, hflip=True, vflip=True, n_layers=6,
                      z_dim=5, area_lambda=1000.0, area_target=0.18, beta=50.0, pad=32, width=0.25,
                      d_width=0.25, batch_size=16, upsample="resize", steps=1000),
}


@dataclasses.dataclass
class HocConfig:
  n_layers: int = 8           # Table 4
  z_dim: int = 6              # Table 4 (Table 2's generator input is 1x1x6)
  area_lambda: float = 1000.0  # Table 4
  area_target: float = 0.1    # a, Table 4
  area_form: str = "squared"  # eq. 7 as printed: mean over the N masks of (area - a)^2
  beta: float = 50.0          # weight of the information term, Table 4
  q_input: str = "carved"     # what Q reads: each carved instance, or the composite (see HocGAN)
  pad: int = 30               # layout padding P
  image_size: int = 64        # Table 2
  width: float = 1.0          # generator (and Q) width multiplier
  d_width: float = 1.0        # discriminator width multiplier
  batch_size: int = 64        # global batch of composites; the paper does not say
  lr_d: float = 2e-4
  lr_g: float = 4e-4
  beta1: float = 0.5
  beta2: float = 0.999
  upsample: str = "deconv"    # Table 2; "resize" removes checkerboard artifacts
  background: str = "disk"    # real patches with a black centre disk, or pure black
  disk_radius: float = 20.0   # px at image_size
  jit: bool = True
  mixed_precision: str = "float32"  # or mixed_bfloat16 / mixed_float16 (GPUs): see precision.py
  seed: int = 0

  def validate(self):
    """Raises training.RunError with a one-line message naming the bad field."""
    def need(ok, msg):
      if not ok:
        raise training.RunError(msg)
    need(self.n_layers >= 1, f"--n_layers={self.n_layers}: must be at least 1")
    need(self.z_dim >= 1, f"--z_dim={self.z_dim}: must be at least 1")
    need(self.image_size >= 16 and self.image_size % 16 == 0,
         f"--image_size={self.image_size}: must be a positive multiple of 16 (the discriminator)")
    need(self.pad >= 0, f"--pad={self.pad}: must be >= 0")
    need(self.width > 0 and self.d_width > 0, "--width and --d_width must be > 0")
    need(self.batch_size >= 1, f"--batch_size={self.batch_size}: must be at least 1")
    need(0.0 <= self.area_target <= 1.0,
         f"--area_target={self.area_target}: a mask area fraction, in [0, 1]")
    need(self.area_lambda >= 0 and self.beta >= 0, "--area_lambda and --beta must be >= 0")
    need(self.area_form in losses.AREA_FORMS,
         f"--area_form={self.area_form!r}: expected one of {', '.join(losses.AREA_FORMS)}")
    need(self.q_input in Q_INPUTS, f"--q_input={self.q_input!r}: expected one of {Q_INPUTS}")
    need(self.background in BACKGROUNDS,
         f"--background={self.background!r}: expected one of {BACKGROUNDS}")
    need(0 <= self.disk_radius, f"--disk_radius={self.disk_radius}: must be >= 0")
    need(self.upsample in ("deconv", "resize"),
         f"--upsample={self.upsample!r}: expected deconv or resize")
    need(self.lr_d > 0 and self.lr_g > 0, "--lr_d and --lr_g must be > 0")
    need(self.mixed_precision in precision.POLICIES,
         f"--mixed_precision={self.mixed_precision!r}: expected one of "
         f"{', '.join(precision.POLICIES)}")
    return self


def config_fields():
  return [f.name for f in dataclasses.fields(HocConfig)]


def make_backgrounds(patches, config):
  """The background pool: the real patches with a black disk of config.disk_radius px in the centre
  (pools.disk_backgrounds), or all black."""
  return pools.disk_backgrounds(patches, config.disk_radius, mode=config.background)


def make_patches(image, window, stride, out_size=64, hflip=False, vflip=False):
  """Real training patches uint8 [P, S, S, 3] (pools.extract_patches; DataError on bad sizes)."""
  return pools.extract_patches(image, window, stride, out_size=out_size, hflip=hflip, vflip=vflip)


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
    self.strategy = strategy or tf.distribute.get_strategy()
    replicas = self.strategy.num_replicas_in_sync
    if c.batch_size % replicas:
      raise training.RunError(f"--batch_size={c.batch_size}: must divide evenly over "
                              f"{replicas} replicas")
    sync = replicas > 1
    q_codes = c.z_dim if c.q_input == "carved" else c.n_layers * c.z_dim
    with self.strategy.scope():
      # Under a mixed policy the convs run in bf16/fp16; the generator's sigmoid, the layout, the
      # composition and the losses stay float32 (see precision.py).
      with precision.policy_scope(c.mixed_precision):
        self.generator = networks.instance_generator(c.z_dim, c.image_size, c.width,
                                                     upsample=c.upsample, sync_bn=sync,
                                                     name="generator")
        self.discriminator = networks.sn_discriminator(c.image_size, c.d_width, last_channels=1024)
        self.q_network = networks.q_network(q_codes, c.image_size, c.width, sync_bn=sync)
      adam = lambda lr: keras.optimizers.Adam(lr, beta_1=c.beta1, beta_2=c.beta2)
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
    if c.q_input == "carved":
      carved = composition.carve(tf.reshape(out["instances"], [-1, c.image_size, c.image_size, 4]))
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
      g_logits = self.discriminator(out["composite"], training=False)
      adv = losses.generator_loss(g_logits)
      masks = out["instances"][..., 3:]
      area = losses.area_penalty(masks, c.area_target, c.area_form)  # eq. 7: mean over all N masks
      info = self._info(out, codes) if c.beta else tf.constant(0.0)
      g_loss = adv + c.area_lambda * area + c.beta * info
      scaled_g_loss = self.opt_g.scale_loss(g_loss * scale)
    self.opt_g.apply_gradients(zip(g_tape.gradient(scaled_g_loss, g_vars), g_vars))
    return dict(d_loss=d_loss, g_loss=g_loss, adv_loss=adv, area_loss=area, info_loss=info,
                mask_area=tf.reduce_mean(losses.mask_area(masks)),
                d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))

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

  def sample_masks(self, count, seed=0, batch=256):
    """Soft masks of `count` independent layers [count, S, S, 1] (inference-mode generator)."""
    rng = tf.random.Generator.from_seed(seed)
    out = []
    for start in range(0, count, batch):
      n = min(batch, count - start)
      codes = rng.uniform([n, self.config.z_dim], -1.0, 1.0)
      out.append(self.generator(codes, training=False)[..., 3:].numpy())
    return np.concatenate(out)


def figure_grids(t, max_cols=8, max_layer_rows=4):
  """Image grids like the paper's figures from figure_tensors output.

  overview (Fig. 8): real patches / composites / the top layer's appearance / its soft mask.
  layers (Figs. 9-11): the carved instances of the last `max_layer_rows` layers (one row per layer,
  top layer last), then the composite, then all appearances and masks of the first sample.
  """
  n = min(max_cols, t["real"].shape[0])
  top = t["appearance"].shape[1] - 1
  overview = pictures.image_grid([t["real"][:n], t["composite"][:n], t["appearance"][:n, top],
                                  t["mask"][:n, top]])
  n_layers = t["carved"].shape[1]
  rows = [t["carved"][:n, i] for i in range(max(0, n_layers - max_layer_rows), n_layers)]
  rows += [t["composite"][:n], t["appearance"][:n, top], t["mask"][:n, top]]
  layer_grid = pictures.image_grid(rows)
  # One sample's N layers side by side: appearance, mask, carved.
  k = min(n_layers, max_cols * 2)
  per_layer = pictures.image_grid([t["appearance"][0, :k], t["mask"][0, :k], t["carved"][0, :k]])
  return dict(overview=overview, layers=layer_grid, one_sample=per_layer)


# -- the blob benchmark ---------------------------------------------------------------------------

def coins_reference_areas(gray=None, min_area=400):
  """Areas (px of the full image) of the coins in skimage.data.coins().

  The region-based segmentation of scikit-image's coins gallery example: watershed of the Sobel
  elevation map from markers < 30 (table) and > 150 (coin), holes filled. Finds the 24 coins.
  """
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import data, filters, measure, segmentation  # pylint: disable=g-import-not-at-top
  gray = data.coins() if gray is None else gray
  markers = np.zeros(gray.shape, np.int32)
  markers[gray < 30] = 1
  markers[gray > 150] = 2
  regions = segmentation.watershed(filters.sobel(gray), markers) == 2
  labels = measure.label(ndimage.binary_fill_holes(regions))
  areas = np.array([r.area for r in measure.regionprops(labels)], np.float64)
  return areas[areas >= min_area]


def blob_stats(masks, area_range, threshold=0.5, min_speck=0):
  """Which masks are exactly one connected blob (8-connectivity) with an area in area_range.

  masks: [M, S, S, 1] soft masks; area_range: (lo, hi) in px at mask scale. Components smaller than
  min_speck px are ignored (0: strict, every component counts). Returns a dict of shares and means.
  """
  from skimage import measure  # pylint: disable=g-import-not-at-top
  lo, hi = area_range
  binary = np.asarray(masks)[..., 0] > threshold
  one, sized, counts = 0, 0, []
  for m in binary:
    labels = measure.label(m, connectivity=2)
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas >= max(min_speck, 1)]
    counts.append(len(areas))
    if len(areas) == 1:
      one += 1
      sized += int(lo <= areas[0] <= hi)
  total = max(len(binary), 1)
  soft = np.asarray(masks, np.float64)
  return dict(layers=len(binary), one_blob_share=one / total, one_coin_blob_share=sized / total,
              mean_blobs=float(np.mean(counts)) if counts else 0.0,
              empty_share=float(np.mean(np.array(counts) == 0)) if counts else 0.0,
              mean_soft_area=float(soft.mean()) if soft.size else 0.0,
              mean_binary_area=float(binary.mean()) if binary.size else 0.0)


# -- the training loop ----------------------------------------------------------------------------

def write_figures(gan, real_pool, bg_pool, logdir, step, writer=None):
  """Figures 8-11 as PNG files in <logdir>/figures (the latest step) and in TensorBoard."""
  grids = figure_grids(gan.figure_tensors(real_pool, bg_pool))
  folder = os.path.join(logdir, "figures")
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for name, grid in grids.items():
    paths[name] = os.path.join(folder, f"{name}.png")
    pictures.save_png(paths[name], grid)
  if writer is not None:
    with writer.as_default(step=step):
      tf.summary.image("figures/overview_real_composite_appearance_mask", grids["overview"],
                       max_outputs=1)
      tf.summary.image("figures/layers_carved_composite_appearance_mask", grids["layers"],
                       max_outputs=1)
      tf.summary.image("figures/one_sample_appearances_masks_carved", grids["one_sample"],
                       max_outputs=1)
  return paths


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
    result["figures"] = write_figures(gan, real_pool, bg_pool, logdir, loop.start)
    return result
  weights = gan.generator.variables + gan.discriminator.variables + gan.q_network.variables
  t0 = time.time()

  def on_figures(step):
    result["figures"] = write_figures(gan, real_pool, bg_pool, logdir, step, loop.writer)

  loop.run(lambda step: gan.train_step(real_pool, bg_pool), weights,
           show=("d_loss", "adv_loss", "info_loss", "mask_area"),
           log_extra=lambda: dict(seconds=round(time.time() - t0, 1)), evaluate=on_figures,
           eval_every=image_every)
  result["seconds"] = time.time() - t0
  if not result["figures"]:
    result["figures"] = write_figures(gan, real_pool, bg_pool, logdir, result["step"])
  return result
