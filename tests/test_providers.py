import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.core import networks, providers


def test_noise_provider_draws_independent_codes_per_layer():
  g = networks.instance_generator(3, image_size=16, width=0.125)
  rng = tf.random.Generator.from_seed(0)
  z = providers.sample_codes(rng, 2, 5, 3)
  assert z.shape == (2, 5, 3)
  flat = z.numpy().reshape(10, 3)
  assert len({tuple(r) for r in flat}) == 10  # every layer of every sample has its own code
  assert (np.abs(flat) <= 1).all()
  layers = providers.noise_provider(g, z, training=False)
  assert layers.shape == (2, 5, 16, 16, 4)
  # One shared generator: a layer equals the generator applied to that layer's code alone.
  np.testing.assert_allclose(layers[1, 3], g(z[1, 3][None], training=False)[0], atol=1e-5)
  assert not np.allclose(layers[0, 0], layers[0, 1])


def test_patch_provider_alpha_one_and_crops_from_pool():
  pool = np.zeros((3, 20, 20, 3), np.uint8)
  for i in range(3):
    pool[i] = 80 * i
  rng = tf.random.Generator.from_seed(0)
  out = providers.patch_provider(pool, rng, 16, size=8).numpy()
  assert out.shape == (16, 8, 8, 4)
  np.testing.assert_array_equal(out[..., 3], 1.0)
  values = {round(float(v), 4) for v in out[..., 0].reshape(16, -1).mean(1)}
  assert values <= {0.0, round(80 / 255, 4), round(160 / 255, 4)} and len(values) > 1


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_patch_provider_windows_are_whole_pool_windows_spread_over_offsets(dtype):
  # Every pixel of a patch distinct, every patch distinct: each output must be exactly one window
  # of one patch (or its mirror), and the windows must reach every corner of the patches.
  y, x = np.mgrid[:12, :12]
  values = np.stack([np.stack([12 * y + x, np.full_like(y, 60 * i), 20 * (x % 10)], -1)
                     for i in range(4)])
  pool = values.astype(dtype) if dtype == np.uint8 else (values / 255.0).astype(dtype)
  rng = tf.random.Generator.from_seed(3)
  out = providers.patch_provider(pool, rng, 64, size=5, flip=True).numpy()[..., :3]
  scale = 255.0 if dtype == np.uint8 else 1.0
  floats = pool.astype(np.float32) / scale
  seen_y, seen_x, mirrored = set(), set(), 0
  for o in out:
    found = [(y, x, f) for p in floats for y in range(8) for x in range(8) for f in (0, 1)
             if np.array_equal(o, p[y:y + 5, x:x + 5][:, ::-1] if f else p[y:y + 5, x:x + 5])]
    assert len(found) == 1
    seen_y.add(found[0][0])
    seen_x.add(found[0][1])
    mirrored += found[0][2]
  assert {0, 7} <= seen_y and {0, 7} <= seen_x and 0 < mirrored < 64


def test_segmentation_provider_concatenates_mask():
  u = networks.unet(64, width=0.125)
  x = tf.random.uniform([2, 64, 64, 3])
  rgba = providers.segmentation_provider(u, x, training=False)
  np.testing.assert_allclose(rgba[..., :3], x)
  np.testing.assert_allclose(rgba[..., 3:], u(x, training=False), atol=1e-6)
