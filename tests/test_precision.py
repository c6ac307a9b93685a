import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import networks, precision
from ind_prior_tf.fgseg import gan as fgseg_lib
from ind_prior_tf.hoc import gan as hoc_lib


def tiny_config(**kw):
  return fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=2, **kw)


# CI runs each policy once, on one application each (float16's loss scaling on this one, bfloat16 on
# HOC); `make test-all` runs both on both.
@pytest.mark.parametrize("policy", [pytest.param("mixed_bfloat16", marks=pytest.mark.slow),
                                    "mixed_float16"])
def test_mixed_precision_step_is_finite_with_float32_outputs(policy):
  gan = fgseg_lib.FgSegGAN(tiny_config(mixed_precision=policy))
  assert keras.mixed_precision.dtype_policy().name == "float32"  # the policy did not leak
  assert precision.compute_dtype(gan.unet) == policy.split("_")[1]
  assert all(v.dtype == "float32" for v in gan.unet.weights + gan.discriminator.weights)
  assert isinstance(gan.opt_g, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
  images = tf.random.uniform([2, 64, 64, 3])
  out = gan.train_step(images, tf.random.uniform([3, 64, 64, 3]))
  for k, v in out.items():
    assert v.dtype == tf.float32 and np.isfinite(v.numpy()), k
  assert gan.predict_masks(images).dtype == tf.float32
  assert gan.unet(images).dtype == tf.float32


@pytest.mark.parametrize("policy", ["mixed_bfloat16",
                                    pytest.param("mixed_float16", marks=pytest.mark.slow)])
def test_mixed_precision_hoc_step_is_finite_and_trains(policy):
  config = hoc_lib.HocConfig(n_layers=2, z_dim=2, width=0.125, d_width=0.125, batch_size=2, pad=4,
                             mixed_precision=policy)
  gan = hoc_lib.HocGAN(config)
  assert keras.mixed_precision.dtype_policy().name == "float32"  # the policy did not leak
  assert precision.compute_dtype(gan.generator) == policy.split("_")[1]
  assert isinstance(gan.opt_d, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
  before = [v.numpy() for v in gan.generator.trainable_variables]
  pool = tf.random.uniform([6, 64, 64, 3])
  out = gan.train_step(pool, pool)
  for k, v in out.items():
    assert v.dtype == tf.float32 and np.isfinite(v.numpy()), k
  # float16 skips the G steps whose scaled gradients overflow while the loss scale halves from 2^15
  # (lambda 1000 makes them large: about 8 steps here); bfloat16 needs no scaling.
  for _ in range(1 if policy == "mixed_bfloat16" else 12):
    gan.train_step(pool, pool)
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(before, gan.generator.trainable_variables))
  assert gan.generator(tf.zeros([1, 2])).dtype == tf.float32


def test_spectral_norm_keeps_float32_master_weights_under_bfloat16():
  # Keras' SpectralNormalization rewrites the kernel with W / sigma on every training call; computed
  # in bfloat16 that would round the float32 master weights to 8 bits each time.
  with precision.policy_scope("mixed_bfloat16"):
    d = networks.sn_discriminator(32, 0.125)
  d(tf.random.uniform([2, 32, 32, 3]), training=True)
  k = d.get_layer("conv2").kernel.numpy()
  as_bf16 = k.astype(tf.bfloat16.as_numpy_dtype).astype(np.float32)
  assert np.mean(k == as_bf16) < 0.5
  assert d.get_layer("conv2").layer.compute_dtype == "bfloat16"  # the conv itself is still bf16


def test_bad_policy_is_refused():
  with pytest.raises(ValueError, match="mixed_precision='float64'"):
    precision.check_policy("float64")
