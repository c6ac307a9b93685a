"""Keras builders for the networks of the paper's appendix (Tables 1 and 2).

Every builder takes an image size and a width multiplier: the defaults reproduce the tables exactly,
smaller values give the CPU presets. Images enter every network as float32 in [0, 1].
"""
import keras
from keras import layers, ops

LEAK = 0.2  # the tables say "lReLU" without a slope; 0.2 is the SN-GAN / DCGAN value.


def scaled(channels, width):
  """Channel count after the width multiplier (at least 1)."""
  return max(1, int(round(channels * width)))


def _sn_conv(channels, kernel, stride, name):
  # The wrapper runs in float32 even under a mixed policy: its power iteration rewrites the float32
  # kernel with W / sigma on every training call, and a bfloat16/float16 iteration would round the
  # master weights to 8-11 bits each time. The wrapped conv itself still computes in the policy's dtype.
  return layers.SpectralNormalization(
      layers.Conv2D(channels, kernel, strides=stride, padding="same", name=name + "_conv"),
      dtype="float32", name=name)


def sn_discriminator(image_size=128, width=1.0, channels=(64, 128, 256, 512), last_channels=256,
                     name="discriminator"):
  """The SN-GAN style discriminator of Table 1 (last_channels=256) and Table 2 (last_channels=1024).

  Four 3x3 stride-2 convs, one 3x3 stride-1 conv, then a 1x1 conv to one channel: the output is a
  (size/16)^2 patch of logits. The tables' final "lReLU+sigmoid" is the sigmoid inside the
  BCE-from-logits of `losses` (a leaky ReLU right before a sigmoid only bends the logit, so we drop it).
  Spectral norm wraps every conv, the last one included. It is Keras 3's `SpectralNormalization`,
  which differs from SN-GAN (Miyato et al.) and PyTorch's `spectral_norm`: it rewrites the kernel
  variable as W / sigma on each training call and does not back-propagate through sigma, where they
  keep W and let the gradient flow through sigma (docs/paper.md, deviations).
  """
  if image_size % 16:
    raise ValueError(f"image_size={image_size}: the discriminator needs a multiple of 16")
  inp = keras.Input((image_size, image_size, 3), name="image")
  x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)  # [0,1] -> [-1,1]
  for i, c in enumerate(channels):
    x = _sn_conv(scaled(c, width), 3, 2, f"conv{i + 1}")(x)
    x = layers.LeakyReLU(LEAK)(x)
  x = _sn_conv(scaled(last_channels, width), 3, 1, f"conv{len(channels) + 1}")(x)
  x = layers.LeakyReLU(LEAK)(x)
  x = _sn_conv(1, 1, 1, "logits")(x)
  return keras.Model(inp, x, name=name)


def _bn(sync_bn, name):
  return layers.BatchNormalization(synchronized=sync_bn, name=name)


def _summed_depthwise(conv):
  """A stride-1 Conv2D to one channel computed as a depthwise conv summed over its channels: the same
  function of the same kernel (float round-off apart). CPU conv kernels do little with one output
  channel; the resize UNet's last conv, at full resolution, took a sixth of a student's step, the
  depthwise form half of that (docs/performance.md). The layer stays a Conv2D, so a saved .keras file
  loads without this package."""
  def convolution_op(inputs, kernel):
    return ops.sum(ops.depthwise_conv(inputs, kernel, strides=1, padding=conv.padding,
                                      data_format=conv.data_format), axis=-1, keepdims=True)
  conv.convolution_op = convolution_op
  return conv


def _up(x, channels, kernel, upsample, name, use_bias=True):
  """Stride-2 upsampling: the table's transposed conv, or resize-conv (no checkerboard artifacts)."""
  if upsample == "deconv":
    return layers.Conv2DTranspose(channels, kernel, strides=2, padding="same", use_bias=use_bias,
                                  name=name)(x)
  if upsample == "resize":
    x = layers.UpSampling2D(2, interpolation="bilinear", name=name + "_resize")(x)
    conv = layers.Conv2D(channels, 3, padding="same", use_bias=use_bias, name=name)
    return (_summed_depthwise(conv) if channels == 1 else conv)(x)
  raise ValueError(f"upsample={upsample!r}: expected 'deconv' or 'resize'")


def unet(image_size=128, width=1.0, upsample="deconv", sync_bn=False, name="unet"):
  """The UNet of Table 1: image -> soft foreground mask in [0, 1].

  Encoder: 4x4 stride-2 convs (64, 128, 256, 512, 512) and a 2x2 stride-2 conv (512), each with BN and
  leaky ReLU. Decoder: a 2x2 and four 4x4 stride-2 deconvs (512, 512, 256, 128, 64, BN, leaky ReLU), each
  output concatenated with the encoder feature of the same size, then a 4x4 stride-2 deconv to 1 channel
  and a sigmoid. Six halvings: image_size must be a multiple of 64.
  """
  if image_size % 64:
    raise ValueError(f"image_size={image_size}: the UNet needs a multiple of 64")
  enc = [(64, 4), (128, 4), (256, 4), (512, 4), (512, 4), (512, 2)]
  dec = [(512, 2), (512, 4), (256, 4), (128, 4), (64, 4)]
  inp = keras.Input((image_size, image_size, 3), name="image")
  x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
  skips = []
  for i, (c, k) in enumerate(enc):
    # No bias before a BN (its mean subtraction cancels it; Adam would only random-walk it on noise).
    x = layers.Conv2D(scaled(c, width), k, strides=2, padding="same", use_bias=False,
                      name=f"enc{i + 1}")(x)
    x = _bn(sync_bn, f"enc{i + 1}_bn")(x)
    x = layers.LeakyReLU(LEAK)(x)
    skips.append(x)
  for i, (c, k) in enumerate(dec):
    x = _up(x, scaled(c, width), k, upsample, f"dec{i + 1}", use_bias=False)
    x = _bn(sync_bn, f"dec{i + 1}_bn")(x)
    x = layers.LeakyReLU(LEAK)(x)
    x = layers.Concatenate(name=f"skip{i + 1}")([x, skips[-2 - i]])
  x = _up(x, 1, 4, upsample, "mask_logits")
  x = layers.Activation("sigmoid", dtype="float32", name="mask")(x)
  return keras.Model(inp, x, name=name)


def instance_generator(z_dim=6, image_size=64, width=1.0, upsample="deconv", sync_bn=False,
                       gray=False, name="instance_generator"):
  """The deconvolutional generator of Table 2: z -> one RGBA instance in [0, 1].

  A 1x1 conv on the 1x1xz input (a dense layer) to 8x8x256, two 4x4 stride-1 convs (256), then 4x4
  stride-2 deconvs (128, 64) and a 4x4 stride-2 deconv to 4 channels with a sigmoid; BN and leaky ReLU
  everywhere else. Three doublings: image_size must be a multiple of 8 (the base grid is size/8).
  gray (ours): the three colour channels tied to their mean, for a grey photo (no weight changes).
  """
  if image_size % 8:
    raise ValueError(f"image_size={image_size}: the instance generator needs a multiple of 8")
  base = image_size // 8
  c0 = scaled(256, width)
  inp = keras.Input((z_dim,), name="z")
  x = layers.Dense(base * base * c0, use_bias=False, name="project")(inp)  # BN follows: no bias
  x = layers.Reshape((base, base, c0))(x)
  # Our reading of Table 2's "8*8*256 ... BN": per channel after the reshape, as in a conv layer,
  # not per dense output (docs/paper.md, readings).
  x = _bn(sync_bn, "project_bn")(x)
  x = layers.LeakyReLU(LEAK)(x)
  for i in range(2):
    x = layers.Conv2D(scaled(256, width), 4, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
    x = _bn(sync_bn, f"conv{i + 1}_bn")(x)
    x = layers.LeakyReLU(LEAK)(x)
  for i, c in enumerate((128, 64)):
    x = _up(x, scaled(c, width), 4, upsample, f"up{i + 1}", use_bias=False)
    x = _bn(sync_bn, f"up{i + 1}_bn")(x)
    x = layers.LeakyReLU(LEAK)(x)
  x = _up(x, 4, 4, upsample, "rgba_logits")
  x = layers.Activation("sigmoid", dtype="float32", name="rgba")(x)
  if gray:
    grey = keras.ops.mean(x[..., :3], axis=-1, keepdims=True)
    x = layers.Concatenate(name="rgba_gray")([grey, grey, grey, x[..., 3:]])
  return keras.Model(inp, x, name=name)


def q_network(code_dim, image_size=64, width=1.0, sync_bn=False, name="q_network"):
  """The InfoGAN Q network (our choice; the paper does not describe it).

  Reads an image and regresses code_dim codes. As `hoc_lib.HocGAN` uses it by default
  (q_input="carved"), the image is one layer's carved instance (RGB * alpha) and code_dim = dim z,
  that layer's own code; with q_input="composite" it reads the composite and regresses the codes of
  all its layers (code_dim = layers * dim z). A plain conv net (4x4 stride-2 convs 64/128/256 with BN,
  leaky ReLU, global average pooling, a dense layer): separate from D, so that the information term
  never perturbs the discriminator's spectral norms.
  """
  inp = keras.Input((image_size, image_size, 3), name="image")
  x = layers.Rescaling(2.0, offset=-1.0)(inp)
  for i, c in enumerate((64, 128, 256)):
    x = layers.Conv2D(scaled(c, width), 4, strides=2, padding="same", name=f"conv{i + 1}")(x)
    if i:
      x = _bn(sync_bn, f"conv{i + 1}_bn")(x)
    x = layers.LeakyReLU(LEAK)(x)
  x = layers.GlobalAveragePooling2D()(x)
  x = layers.Dense(code_dim, dtype="float32", name="codes")(x)
  return keras.Model(inp, x, name=name)
