"""The train steps make bench times: each application's step at the bench's sizes, built with its
batch in memory and its FLOPs per step (bench/run.py times them), and a per-layer breakdown.
"""
import time

from ind_prior_tf.bench.flops import forward_flops, layer_flops

SIZES = {  # experiments/fgseg.py's presets "paper" and "cpu"
    "paper": dict(image_size=128, width=1.0, batch_size=16),
    "cpu": dict(image_size=64, width=0.25, batch_size=32),
    "quick": dict(image_size=64, width=0.125, batch_size=4),
}


def layer_breakdown(model, batch, jits, repeats):
  """Each conv layer of a model timed alone: forward plus the input and weight gradients (3x its
  forward FLOPs), on a batch at the layer's input shape. Returns rows of (name, input shape, {jit:
  seconds}, FLOPs). Shows which layer shapes run far below a large conv on this machine."""
  import tensorflow as tf
  rows = []
  for layer in model.layers:
    flops = layer_flops(layer)
    inner = getattr(layer, "layer", layer)
    if not flops or not inner.trainable_variables:
      continue
    x = tf.random.normal([batch, *layer.input.shape[1:]], seed=1)
    seconds = {}
    for jit in jits:
      @tf.function(jit_compile=jit)
      def fwd_bwd(x, inner=inner):
        with tf.GradientTape() as tape:
          tape.watch(x)
          y = tf.cast(inner(x), tf.float32)
          loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x] + inner.trainable_variables)
      sync = lambda out: [g.numpy() for g in out]
      sync(fwd_bwd(x))  # compile
      seconds[jit] = min(timed(lambda: sync(fwd_bwd(x))) for _ in range(max(repeats, 3)))
    rows.append((layer.name, tuple(layer.input.shape[1:]), seconds, 3 * batch * flops))
  return rows


class Bench:
  """One application at one size: a step function, a batch in memory, and its FLOPs per step."""

  def __init__(self, name, step, flops, batch, sync):
    self.name, self.step, self.flops, self.batch, self.sync = name, step, flops, batch, sync

  def time_block(self, steps):
    t = time.perf_counter()
    out = None
    for _ in range(steps):
      out = self.step()
    self.sync(out)  # one host sync per block: no per-step fetch of the losses
    return (time.perf_counter() - t) / steps


def build_fgseg(size, jit, policy):
  import tensorflow as tf

  from ind_prior_tf.fgseg import gan as fgseg_lib
  s = SIZES[size]
  config = fgseg_lib.FgSegConfig(image_size=s["image_size"], width=s["width"], d_width=s["width"],
                                 batch_size=s["batch_size"], jit=jit, mixed_precision=policy)
  gan = fgseg_lib.FgSegGAN(config)
  b, n = s["batch_size"], s["image_size"]
  images = tf.random.uniform([b, n, n, 3], seed=1)
  pool = tf.random.uniform([64, n + n // 8, n + n // 8, 3], seed=2)
  u, d = forward_flops(gan.unet), forward_flops(gan.discriminator)
  # D step: D forward and backward on the real and the fake batch (6 D); G step: one UNet forward
  # (shared with the D step), D forward and input gradient (2 D), UNet backward (2 U).
  flops = b * (3 * u + 8 * d)
  bench = Bench("fgseg", lambda: gan.train_step(images, pool), flops, b,
                lambda out: float(out["d_loss"]))
  bench.gan, bench.images, bench.pool = gan, images, pool
  return bench


def build_distill(size, jit, policy):
  import tensorflow as tf

  from ind_prior_tf.distill import config as distill_config
  from ind_prior_tf.distill import model as distill_lib
  s = SIZES[size]
  config = distill_config.DistillConfig(image_size=s["image_size"], width=s["width"],
                                        batch_size=s["batch_size"], jit=jit, mixed_precision=policy)
  student = distill_lib.Distiller(config)
  b, n = s["batch_size"], s["image_size"]
  images = tf.random.uniform([b, n, n, 3], seed=1)
  masks = tf.random.uniform([b, n, n, 1], seed=3)
  pool = tf.random.uniform([64, n, n, 3], seed=2)
  flops = b * 3 * forward_flops(student.student)  # student forward and backward
  return Bench("distill", lambda: student.train_step(images, masks, pool), flops, b,
               lambda out: float(out["loss"]))


# HOC sizes: "paper" is Table 2 at full width with the crowd preset's 8 layers, batch 64; "cpu" is the
# first coins_cpu preset (quarter width, 6 layers of dim z 5, resize-conv decoder, batch 16), kept so
# that speed stays comparable across dates (coins_cpu now has 2 layers: a lighter step).
HOC_SIZES = {
    "paper": dict(width=1.0, batch_size=64, n_layers=8, z_dim=6, upsample="deconv"),
    "cpu": dict(width=0.25, batch_size=16, n_layers=6, z_dim=5, upsample="resize"),
    "quick": dict(width=0.125, batch_size=4, n_layers=2, z_dim=2, upsample="deconv"),
}


def build_hoc(size, jit, policy):
  import tensorflow as tf

  from ind_prior_tf.hoc import gan as hoc_lib
  s = HOC_SIZES[size]
  config = hoc_lib.HocConfig(image_size=64, width=s["width"], d_width=s["width"],
                             batch_size=s["batch_size"], n_layers=s["n_layers"], z_dim=s["z_dim"],
                             upsample=s["upsample"], pad=30, jit=jit, mixed_precision=policy)
  gan = hoc_lib.HocGAN(config)
  real = tf.cast(tf.random.uniform([256, 64, 64, 3], maxval=256, dtype=tf.int32, seed=1), tf.uint8)
  bg = tf.cast(tf.random.uniform([256, 64, 64, 3], maxval=256, dtype=tf.int32, seed=2), tf.uint8)
  g, d, q = (forward_flops(m) for m in (gan.generator, gan.discriminator, gan.q_network))
  # Per composite: N generator passes forward and backward (3 N G), Q forward and backward on each
  # carved layer (3 N Q), D as in fgseg (6 D in the D step, 2 D in the G step).
  b, n = s["batch_size"], s["n_layers"]
  flops = b * (3 * n * g + 3 * n * q + 8 * d)
  return Bench("hoc", lambda: gan.train_step(real, bg), flops, b, lambda out: float(out["d_loss"]))


BUILDERS = dict(fgseg=build_fgseg, distill=build_distill, hoc=build_hoc)


def timed(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------------
# The input pipeline: fgseg's real tf.data pipeline over a prepared set written to a temporary folder.
# ---------------------------------------------------------------------------------------------------
