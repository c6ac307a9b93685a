"""experiments.evaluate.predict: the masks it scores."""
import keras
import numpy as np
import tensorflow as tf

from experiments import evaluate


def ramp_model(size):
  """A 'segmenter' whose mask ignores the image: 0 on the left edge rising to 1 on the right."""
  ramp = tf.reshape(tf.linspace(0.0, 1.0, size), [1, 1, size, 1])
  inputs = keras.Input((size, size, 3))
  out = keras.layers.Lambda(lambda x: tf.zeros_like(x[..., :1]) + ramp)(inputs)
  return keras.Model(inputs, out)


def test_flip_average_is_the_mean_of_the_mask_and_its_mirrors():
  images = tf.random.uniform([2, 8, 8, 3], seed=0)
  model = ramp_model(8)
  plain = evaluate.predict(model, images, 8).numpy()
  np.testing.assert_allclose(plain[0, 3, :, 0], np.linspace(0, 1, 8), atol=1e-6)
  # The ramp and its mirror sum to 1 everywhere.
  np.testing.assert_allclose(evaluate.predict(model, images, 8, flip_average=True), 0.5, atol=1e-6)
  # At another crop size the averaged mask is resized back to the crops' size.
  big = tf.random.uniform([1, 16, 16, 3], seed=1)
  averaged = evaluate.predict(model, big, 8, flip_average=True).numpy()
  assert averaged.shape == (1, 16, 16, 1)
  np.testing.assert_allclose(averaged, 0.5, atol=1e-5)
