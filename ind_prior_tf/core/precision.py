"""Mixed precision: the Keras dtype policy of the networks and the loss scaling it needs.

  float32         everything in float32 (the default, and the only sensible choice on a CPU).
  mixed_bfloat16  convs and matmuls in bfloat16, variables in float32 (TPUs, Ampere+ GPUs, AVX512-BF16
                  CPUs); bfloat16 has float32's exponent range, so no loss scaling is needed.
  mixed_float16   convs and matmuls in float16 (Volta+ GPUs' tensor cores), variables in float32; the
                  optimizers are wrapped in a LossScaleOptimizer so small gradients do not flush to zero.

What stays in float32 whatever the policy (the numerically sensitive parts): the networks' final sigmoids
(`networks` gives them dtype float32), every loss (`losses` casts its inputs), the composition (it works on
the float32 masks and images), batch-norm statistics (Keras computes them in float32), and spectral norm's
power iteration (its wrapper layer has dtype float32, because it rewrites the float32 kernel in place).
"""
import contextlib

import keras
import tensorflow as tf

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def check_policy(name):
  if name not in POLICIES:
    raise ValueError(f"mixed_precision={name!r}: expected one of {', '.join(POLICIES)}")
  return name


def set_policy(name):
  """Sets Keras' global dtype policy (affects every layer built afterwards)."""
  keras.mixed_precision.set_dtype_policy(check_policy(name))


@contextlib.contextmanager
def policy_scope(name):
  """Builds the layers created inside with policy `name`, then restores the previous global policy,
  so that one application's precision never leaks into networks built later in the same process."""
  previous = keras.mixed_precision.dtype_policy()
  set_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_dtype_policy(previous)


def wrap_optimizer(optimizer, name):
  """Adds dynamic loss scaling for float16. Train steps call `optimizer.scale_loss(loss)` before taking
  gradients (the identity for plain optimizers), and apply_gradients unscales and skips steps whose
  gradients overflowed."""
  if check_policy(name) == "mixed_float16":
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def compute_dtype(model):
  """The dtype the model's convs run in (its first layer with weights), for checks and reports."""
  for layer in model.layers:
    if layer.weights:
      inner = getattr(layer, "layer", layer)
      return inner.compute_dtype
  return model.compute_dtype


def unit_float(x):
  """float32 images in [0, 1]: uint8 ones divided by 255, float ones as they are."""
  x = tf.convert_to_tensor(x)
  return tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
