"""The builders against the appendix tables (kernel sizes, strides, channels) and their scaling."""
import keras
from keras import layers
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import networks


def _convs(model):
  """(kind, kernel, stride, channels, spectral_norm) for every conv-like layer, in order."""
  out = []
  for layer in model.layers:
    sn = isinstance(layer, layers.SpectralNormalization)
    inner = layer.layer if sn else layer
    if isinstance(inner, layers.Conv2DTranspose):
      out.append(("deconv", inner.kernel_size[0], inner.strides[0], inner.filters, sn))
    elif isinstance(inner, layers.Conv2D):
      out.append(("conv", inner.kernel_size[0], inner.strides[0], inner.filters, sn))
  return out


def test_discriminator_table1():
  d = networks.sn_discriminator(128)
  assert _convs(d) == [("conv", 3, 2, 64, True), ("conv", 3, 2, 128, True),
                       ("conv", 3, 2, 256, True), ("conv", 3, 2, 512, True),
                       ("conv", 3, 1, 256, True), ("conv", 1, 1, 1, True)]
  assert d.output_shape == (None, 8, 8, 1)


def test_discriminator_table2():
  d = networks.sn_discriminator(64, last_channels=1024)
  assert [c[3] for c in _convs(d)] == [64, 128, 256, 512, 1024, 1]
  assert all(c[4] for c in _convs(d))
  assert d.output_shape == (None, 4, 4, 1)


def test_unet_table1():
  u = networks.unet(128)
  assert _convs(u) == [
      ("conv", 4, 2, 64, False), ("conv", 4, 2, 128, False), ("conv", 4, 2, 256, False),
      ("conv", 4, 2, 512, False), ("conv", 4, 2, 512, False), ("conv", 2, 2, 512, False),
      ("deconv", 2, 2, 512, False), ("deconv", 4, 2, 512, False), ("deconv", 4, 2, 256, False),
      ("deconv", 4, 2, 128, False), ("deconv", 4, 2, 64, False), ("deconv", 4, 2, 1, False)]
  bns = [l for l in u.layers if isinstance(l, layers.BatchNormalization)]
  assert len(bns) == 11  # every layer but the last
  assert u.output_shape == (None, 128, 128, 1)
  skips = [l for l in u.layers if isinstance(l, layers.Concatenate)]
  assert [s.output.shape[1] for s in skips] == [4, 8, 16, 32, 64]


def test_generator_table2():
  g = networks.instance_generator(6)
  dense = [l for l in g.layers if isinstance(l, layers.Dense)]
  assert dense[0].units == 8 * 8 * 256  # the 1x1 conv on a 1x1 z
  assert _convs(g) == [("conv", 4, 1, 256, False), ("conv", 4, 1, 256, False),
                       ("deconv", 4, 2, 128, False), ("deconv", 4, 2, 64, False),
                       ("deconv", 4, 2, 4, False)]
  assert g.output_shape == (None, 64, 64, 4)


def test_width_and_size_scale_every_network():
  u = networks.unet(64, width=0.25)
  assert [c[3] for c in _convs(u)][:6] == [16, 32, 64, 128, 128, 128]
  assert u.output_shape == (None, 64, 64, 1)
  d = networks.sn_discriminator(64, width=0.5)
  assert [c[3] for c in _convs(d)] == [32, 64, 128, 256, 128, 1]
  g = networks.instance_generator(2, image_size=32, width=0.5)
  assert g.output_shape == (None, 32, 32, 4)
  x = tf.random.uniform([2, 64, 64, 3])
  m = u(x, training=False).numpy()
  assert m.min() >= 0 and m.max() <= 1


def test_resize_upsampling_has_no_transposed_convs():
  u = networks.unet(64, width=0.25, upsample="resize")
  assert not any(c[0] == "deconv" for c in _convs(u))
  assert u.output_shape == (None, 64, 64, 1)


def test_resize_unets_one_channel_conv_is_the_plain_conv_and_saves_as_one():
  # The last conv runs as a depthwise conv summed over channels (faster on CPU); it must compute the
  # conv of its kernel, with its gradients, and a model rebuilt from the config (what a saved .keras
  # file loads, without this package) must hold a plain Conv2D giving the same masks.
  u = networks.unet(64, width=0.25, upsample="resize")
  conv = u.get_layer("mask_logits")
  conv.kernel.assign(tf.random.normal(conv.kernel.shape, seed=1))
  conv.bias.assign([0.3])
  x = tf.random.uniform([3, 64, 64, conv.kernel.shape[2]], seed=2)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    got = conv(x)
    want = tf.nn.conv2d(x, conv.kernel, 1, "SAME") + conv.bias
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  for g, w in zip(tape.gradient(got, [x, conv.kernel]), tape.gradient(want, [x, conv.kernel])):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
  rebuilt = keras.models.model_from_json(u.to_json())
  rebuilt.set_weights(u.get_weights())
  assert type(rebuilt.get_layer("mask_logits")) is layers.Conv2D
  images = tf.random.uniform([2, 64, 64, 3], seed=3)
  np.testing.assert_allclose(rebuilt(images, training=False), u(images, training=False), atol=1e-5)


@pytest.mark.parametrize("builder,size", [(networks.unet, 96), (networks.sn_discriminator, 40)])
def test_bad_sizes_are_refused(builder, size):
  with pytest.raises(ValueError, match=f"image_size={size}"):
    builder(size)


def test_spectral_norm_keeps_largest_singular_value_near_one():
  """After some training steps every D kernel, reshaped to a matrix, has sigma_max ~ 1."""
  d = networks.sn_discriminator(32, width=0.125, channels=(64, 128), last_channels=64)
  opt = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
  x = tf.random.uniform([4, 32, 32, 3])

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(d(x, training=True) - 1.0))
    opt.apply_gradients(zip(tape.gradient(loss, d.trainable_variables), d.trainable_variables))

  for _ in range(30):
    step()
  d(x, training=True)  # the power iteration normalises the kernels on the training call
  sigmas = []
  for layer in d.layers:
    if isinstance(layer, layers.SpectralNormalization):
      k = layer.layer.kernel.numpy()
      sigmas.append(np.linalg.svd(k.reshape(-1, k.shape[-1]), compute_uv=False)[0])
  assert len(sigmas) == 4
  np.testing.assert_allclose(sigmas, 1.0, atol=0.1)
