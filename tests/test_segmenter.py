"""segmenter.predict: a segmenter's masks of images of any size, as evaluation, the teacher's labels,
segmenting files and the serving signature take them."""
import keras
import numpy as np
import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from tests.run_fixtures import ramp_model


def mean_model(size):
  """A 'segmenter' whose mask is the mean of the image's channels: its resizes show in the mask."""
  inputs = keras.Input((size, size, 3))
  return keras.Model(inputs, keras.layers.Lambda(lambda x: tf.reduce_mean(x, -1, keepdims=True))(inputs))


def test_flip_average_is_the_mean_of_the_mask_and_its_mirrors():
  images = tf.random.uniform([2, 8, 8, 3], seed=0)
  model = ramp_model(8)
  plain = segmenter.predict(model, images, clip_input=False).numpy()
  np.testing.assert_allclose(plain[0, 3, :, 0], np.linspace(0, 1, 8), atol=1e-6)
  # The ramp and its mirror sum to 1 everywhere.
  np.testing.assert_allclose(segmenter.predict(model, images, flip_average=True, clip_input=False),
                             0.5, atol=1e-6)
  # At another crop size the averaged mask is resized back to the crops' size.
  big = tf.random.uniform([1, 16, 16, 3], seed=1)
  averaged = segmenter.predict(model, big, flip_average=True, clip_input=False).numpy()
  assert averaged.shape == (1, 16, 16, 1)
  np.testing.assert_allclose(averaged, 0.5, atol=1e-5)


def test_shift_repeats_the_edge_into_the_space_left_behind():
  x = tf.reshape(tf.range(12.0), [1, 3, 4, 1])  # rows 0-3, 4-7, 8-11
  np.testing.assert_array_equal(segmenter.shift(x, 0, 1)[0, :, :, 0],
                                [[0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10]])
  np.testing.assert_array_equal(segmenter.shift(x, -1, -2)[0, :, :, 0],
                                [[6, 7, 7, 7], [10, 11, 11, 11], [10, 11, 11, 11]])
  np.testing.assert_array_equal(segmenter.shift(x, 0, 0), x)


def test_shift_average_is_the_mean_over_the_five_moved_views():
  images = tf.random.uniform([2, 8, 8, 3], seed=0)
  ramp, r = ramp_model(8), np.linspace(0, 1, 8)
  # The ramp's mask ignores the image: moved left and right by 2 and back, it reads the ramp 2 to
  # the right and left (held at the edges); moved up and down, the same ramp. On a linear ramp the
  # mean is the ramp again except within 2 of the edges: (3 r[j] + r[j+2] + r[j-2]) / 5, clipped.
  got = segmenter.predict(ramp, images, shift_average=2, clip_input=False).numpy()
  want = (3 * r + r[np.clip(np.arange(8) + 2, 0, 7)] + r[np.clip(np.arange(8) - 2, 0, 7)]) / 5
  np.testing.assert_allclose(got[1, 5, :, 0], want, atol=1e-6)
  assert abs(want[0] - r[2] / 5) < 1e-9 and np.allclose(want[2:6], r[2:6])
  # A mask that is a function of each pixel alone is moved and moved back: unchanged inside; with
  # flips each view is flip-averaged (the ramp's flip average, 0.5, again).
  mean = mean_model(8)
  plain = segmenter.predict(mean, images, clip_input=False).numpy()
  shifted = segmenter.predict(mean, images, shift_average=2, clip_input=False).numpy()
  np.testing.assert_allclose(shifted[:, 2:-2, 2:-2], plain[:, 2:-2, 2:-2], atol=1e-6)
  assert not np.allclose(shifted, plain)  # the edges are not
  np.testing.assert_allclose(segmenter.predict(ramp, images, flip_average=True, shift_average=3,
                                               clip_input=False), 0.5, atol=1e-6)
  np.testing.assert_array_equal(segmenter.predict(mean, images, shift_average=0), plain)
  fn = segmenter.predictor(ramp, shift_average=2)  # compiled, as segment_files calls it
  np.testing.assert_allclose(fn(images.numpy())[1, 5, :, 0], want, atol=1e-6)


def test_predict_keeps_each_callers_resizes_bit_for_bit():
  model = mean_model(8)
  images = tf.random.uniform([3, 20, 20, 3], seed=2)
  resize = lambda x, s, aa: tf.image.resize(x, [s, s], antialias=aa)
  clip = lambda x: tf.clip_by_value(x, 0.0, 1.0)
  # Evaluation: images resized (antialiased, not clipped), masks resized back plainly and clipped.
  want = clip(resize(model(resize(images, 8, True), training=False), 20, False))
  got = segmenter.predict(model, images, clip_input=False)
  np.testing.assert_array_equal(got.numpy(), want.numpy())
  # The teacher's labels: images resized and clipped, masks resized antialiased and clipped.
  want = clip(resize(model(clip(resize(images, 8, True)), training=False), 12, True))
  got = segmenter.predict(model, images, 12, mask_antialias=True)
  np.testing.assert_array_equal(got.numpy(), want.numpy())
  # At the network's size nothing is resized (nor clipped): the model's own output.
  small = tf.random.uniform([2, 8, 8, 3], seed=3)
  np.testing.assert_array_equal(segmenter.predict(model, small).numpy(),
                                model(small, training=False).numpy())
  # Any (height, width), also a tensor (the serving signature's images of any size).
  wide = tf.random.uniform([1, 10, 30, 3], seed=4)
  assert segmenter.predict(model, wide).shape == (1, 10, 30, 1)
  assert segmenter.predict(model, wide, tf.constant([5, 7])).shape == (1, 5, 7, 1)
  fn = tf.function(lambda x: segmenter.predict(model, x),
                   input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  np.testing.assert_array_equal(fn(wide).numpy(), segmenter.predict(model, wide).numpy())


def test_predictor_takes_numpy_batches_of_any_size():
  predict = segmenter.predictor(ramp_model(8))
  for n in (1, 3, 2):
    masks = predict(np.zeros((n, 8, 8, 3), np.float32))
    assert isinstance(masks, np.ndarray) and masks.shape == (n, 8, 8, 1)
