import json

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.core import composition, losses, networks, providers
from ind_prior_tf.fgseg import gan as fgseg_lib
from ind_prior_tf.runtime import training
from tests.run_fixtures import check_one_moving_average_step


def test_gradient_reaches_unet_through_composition_and_area_penalty():
  u = networks.unet(64, width=0.125)
  x = tf.random.uniform([2, 64, 64, 3])
  bg = tf.concat([tf.random.uniform([2, 64, 64, 3]), tf.ones([2, 64, 64, 1])], -1)
  with tf.GradientTape(persistent=True) as tape:
    fg = providers.segmentation_provider(u, x, training=True)
    composite = composition.alpha_composite([bg, fg])
    image_loss = tf.reduce_mean(composite)
    area_loss = losses.area_penalty(fg[..., 3:], 0.25)
  for loss in (image_loss, area_loss):
    grads = tape.gradient(loss, u.trainable_variables)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_fake_images_are_the_two_layer_alpha_composite_of_the_paper():
  # fake_images blends directly; it must equal eq. 5 over the patch (alpha 1) and the segmentation
  # provider's RGBA layer, values to the bit and gradients to round-off.
  gan = fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125,
                                                  upsample="resize", jit=False))
  x, bg = tf.random.uniform([3, 64, 64, 3], seed=5), tf.random.uniform([3, 64, 64, 3], seed=6)
  weights = tf.random.uniform([3, 64, 64, 3], seed=7)
  with tf.GradientTape(persistent=True) as tape:
    fake, masks = gan.fake_images(x, bg, training=True)
    fg = providers.segmentation_provider(gan.unet, x, training=True)
    want = composition.alpha_composite([tf.concat([bg, tf.ones_like(masks)], -1), fg])
    got_loss, want_loss = tf.reduce_sum(fake * weights), tf.reduce_sum(want * weights)
  np.testing.assert_array_equal(fake, want)
  np.testing.assert_array_equal(masks, fg[..., 3:])
  variables = gan.unet.trainable_variables
  for g, w in zip(tape.gradient(got_loss, variables), tape.gradient(want_loss, variables)):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_one_gan_step_changes_both_networks():
  # Without XLA: the step is the point (test_cub_prep_train_resume_evaluate and the recolouring
  # test compile it with XLA), and XLA's compilation was most of this test's time.
  cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4, jit=False)
  gan = fgseg_lib.FgSegGAN(cfg)
  assert gan.opt_d.learning_rate.numpy() == np.float32(2e-4)
  assert gan.opt_g.learning_rate.numpy() == np.float32(4e-4)
  assert gan.opt_g.beta_1 == 0.5 and gan.opt_g.beta_2 == 0.999
  images = tf.random.uniform([4, 64, 64, 3])
  pool = tf.random.uniform([6, 72, 72, 3])
  gan.unet(images)  # build
  d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
  u_before = [v.numpy().copy() for v in gan.unet.trainable_variables]
  out = gan.train_step(images, pool)
  for k in ("d_loss", "g_loss", "mask_area", "d_real", "d_fake"):
    assert np.isfinite(float(out[k])), k
  d_changed = [not np.allclose(a, b.numpy()) for a, b in
               zip(d_before, gan.discriminator.trainable_variables)]
  u_changed = [not np.allclose(a, b.numpy()) for a, b in
               zip(u_before, gan.unet.trainable_variables)]
  assert all(d_changed) and all(u_changed)


def test_smooth_lambda_adds_the_weighted_total_variation_to_the_g_loss():
  images = tf.random.uniform([4, 64, 64, 3], seed=3)
  pool = tf.random.uniform([6, 72, 72, 3], seed=4)
  outs = []
  for smooth in (0.0, 7.0):
    cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4,
                                smooth_lambda=smooth, jit=False, seed=5)
    tf.keras.utils.set_random_seed(1)  # the same initial weights for both
    outs.append(fgseg_lib.FgSegGAN(cfg).train_step(images, pool))
  a, b = outs
  assert float(a["smooth_loss"]) > 0
  assert float(b["smooth_loss"]) == pytest.approx(float(a["smooth_loss"]), rel=1e-5)
  assert float(b["g_loss"] - a["g_loss"]) == pytest.approx(7.0 * float(a["smooth_loss"]), rel=1e-3)


@pytest.mark.parametrize("name,term", [("pairwise", losses.pairwise_affinity_loss),
                                       ("unary", losses.colour_model_loss)])
def test_colour_terms_add_their_weighted_value_to_the_g_loss(name, term):
  images = tf.random.uniform([4, 64, 64, 3], seed=3)
  pool = tf.random.uniform([6, 72, 72, 3], seed=4)
  outs = []
  for weight in (0.0, 3.0):
    cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4,
                                jit=False, seed=5, **{f"{name}_lambda": weight})
    tf.keras.utils.set_random_seed(1)  # the same initial weights for both
    gan = fgseg_lib.FgSegGAN(cfg)
    masks = gan.unet(images, training=True)
    outs.append((gan.train_step(images, pool), term(masks, images)))
  (a, _), (b, value) = outs
  assert float(a[f"{name}_loss"]) == 0.0  # off: not computed
  assert float(b[f"{name}_loss"]) == pytest.approx(float(value), rel=1e-4) and float(value) > 0
  assert float(b["g_loss"] - a["g_loss"]) == pytest.approx(3.0 * float(value), rel=1e-3)


def test_ema_segmenter_is_the_moving_average_and_is_saved_as_unet(tmp_path):
  cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4,
                              ema_decay=0.75, jit=False)  # the average is the point, not XLA
  gan = fgseg_lib.FgSegGAN(cfg)
  w0 = [w.numpy() for w in gan.unet.weights]
  for e, w in zip(gan.unet_ema.weights, w0):
    np.testing.assert_array_equal(e.numpy(), w)  # starts at the trained UNet's initial weights
  images, pool = tf.random.uniform([4, 64, 64, 3]), tf.random.uniform([6, 72, 72, 3])
  gan.train_step(images, pool)
  w1 = [w.numpy() for w in gan.unet.weights]
  check_one_moving_average_step(gan.unet_ema, w0, w1, 0.75)
  np.testing.assert_array_equal(gan.predict_masks(images).numpy(),
                                gan.unet_ema(images, training=False).numpy())
  # The checkpoint's `unet` is the average (what evaluate/segment/distill load), `unet_train` the
  # trained one (what a resumed run trains on).
  keeper = training.CheckpointKeeper(str(tmp_path / "ckpt"), **gan.checkpoint_objects())
  keeper.save(1)
  (tmp_path / "flags.json").write_text(json.dumps(dict(image_size=64, width=0.125,
                                                       upsample="deconv")))
  unet, _, _ = segmenter.load_segmenter(str(tmp_path))
  for a, b in zip(unet.weights, gan.unet_ema.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  resumed = fgseg_lib.FgSegGAN(cfg)
  training.CheckpointKeeper(str(tmp_path / "ckpt"), **resumed.checkpoint_objects()).restore()
  for a, b in zip(resumed.unet.weights, w1):
    np.testing.assert_array_equal(a.numpy(), b)


def test_removal_images_cut_out_the_mask_and_give_backgrounds_another_crops_hole():
  images = tf.fill([2, 2, 2, 3], 1.0)
  fill = tf.fill([2, 2, 2, 3], 0.5)
  backgrounds = tf.zeros([2, 2, 2, 3])
  masks = tf.constant([[[[1.0], [0.0]], [[0.0], [0.0]]],    # crop 0 keeps its top-left pixel
                       [[[0.0], [0.0]], [[0.25], [1.0]]]])  # crop 1 its bottom row, partly
  with tf.GradientTape() as tape:
    tape.watch(masks)
    removed, background_like = fgseg_lib.removal_images(images, masks, fill, backgrounds)
    other_sum = tf.reduce_sum(background_like)
  # removed = 1 * (1 - m) + 0.5 * m
  np.testing.assert_allclose(removed[0, :, :, 0], [[0.5, 1.0], [1.0, 1.0]])
  np.testing.assert_allclose(removed[1, :, :, 0], [[1.0, 1.0], [0.875, 0.5]])
  # background_like = 0 * (1 - m') + 0.5 * m', with m' the mask of the previous crop (rolled by one)
  np.testing.assert_allclose(background_like[0, :, :, 0], [[0.0, 0.0], [0.125, 0.5]])
  np.testing.assert_allclose(background_like[1, :, :, 0], [[0.5, 0.0], [0.0, 0.0]])
  # The borrowed hole is a constant for the generator: only `removed` reaches the UNet.
  assert tape.gradient(other_sum, masks) is None


def test_removal_term_trains_its_discriminator_and_is_checkpointed(tmp_path):
  cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4,
                              removal_lambda=1.0, jit=False)  # the term is the point, not XLA
  gan = fgseg_lib.FgSegGAN(cfg)
  images, pool = tf.random.uniform([4, 64, 64, 3]), tf.random.uniform([6, 72, 72, 3])
  gan.unet(images)
  before = [v.numpy().copy() for v in gan.bg_discriminator.trainable_variables]
  out = gan.train_step(images, pool)
  assert float(out["removal_loss"]) > 0 and float(out["bg_d_loss"]) > 0
  assert all(not np.allclose(a, b.numpy())
             for a, b in zip(before, gan.bg_discriminator.trainable_variables))
  assert int(gan.opt_bg.iterations) == 1
  keeper = training.CheckpointKeeper(str(tmp_path / "ckpt"), **gan.checkpoint_objects())
  keeper.save(1)
  resumed = fgseg_lib.FgSegGAN(cfg)
  assert training.CheckpointKeeper(str(tmp_path / "ckpt"),
                                   **resumed.checkpoint_objects()).restore() == 1
  for a, b in zip(resumed.bg_discriminator.weights, gan.bg_discriminator.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  # Off by default: the paper's step has no second discriminator.
  assert fgseg_lib.FgSegGAN(fgseg_lib.FgSegConfig(image_size=64, width=0.125,
                                                  d_width=0.125)).bg_discriminator is None



def test_border_loss_is_the_mean_mask_on_the_outer_ring():
  masks = np.zeros([2, 64, 64, 1], np.float32)
  masks[0] = 1.0                           # full: its ring is all 1; the second mask is empty
  assert float(fgseg_lib.border_loss(masks)) == pytest.approx(0.5)
  top = np.zeros([1, 64, 64, 1], np.float32)
  top[0, :2] = 1.0                         # the top two rows: 128 of the ring's 64^2 - 60^2 pixels
  assert float(fgseg_lib.border_loss(top)) == pytest.approx(128 / (64 ** 2 - 60 ** 2))
  inside = np.zeros([1, 64, 64, 1], np.float32)
  inside[0, 2:-2, 2:-2] = 1.0              # all inside the ring: free
  assert float(fgseg_lib.border_loss(inside)) == 0.0
