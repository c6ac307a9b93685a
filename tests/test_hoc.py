"""Application 2 (one image of a homogeneous object cluster): the model, the loop, the blob score and
the entry points (in process). Tiny: 32 px patches, width 0.125, a few steps, no XLA where it is not
the point."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.errors import FlagError
from ind_prior_tf.hoc import config as hoc_config
from ind_prior_tf.hoc import evaluate as hoc_eval_lib
from ind_prior_tf.hoc import figures as hoc_figures
from ind_prior_tf.hoc import gan as hoc_lib
from ind_prior_tf.runtime import devices, training
from tests import entry

S = 32


def tiny_config(**kw):
  base = dict(n_layers=3, z_dim=4, area_target=0.2, pad=8, image_size=S, width=0.125,
              d_width=0.125, batch_size=4, disk_radius=8.0, jit=False)
  base.update(kw)
  return hoc_lib.HocConfig(**base)


@pytest.fixture(scope="module")
def pools():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
  real = hoc_lib.make_patches(image, window=40, stride=20, out_size=S)
  return real, hoc_lib.make_backgrounds(real, tiny_config())


@pytest.fixture(scope="module")
def plain_step(pools):
  """One step's losses of the paper's model (tiny_config): the optional terms' tests' baseline."""
  return hoc_lib.HocGAN(tiny_config()).train_step(*(tf.constant(p) for p in pools))


def test_layers_share_the_generator_but_not_the_codes():
  gan = hoc_lib.HocGAN(tiny_config(pad=0))
  codes = hoc_lib.providers.sample_codes(gan.rng, 2, 3, 4)
  # z is drawn independently for every layer of every sample.
  assert not np.allclose(codes[:, 0], codes[:, 1])
  same = tf.concat([codes[:, :1], codes[:, :1], codes[:, 2:]], axis=1)  # layers 0 and 1 share a code
  out = gan.generate(same, None, gan.rng, training=False)["instances"].numpy()
  np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-6)  # one shared generator
  assert np.abs(out[:, 0] - out[:, 2]).max() > 1e-4  # different z -> different layer


def test_pad_and_crop_moves_every_layer_independently():
  gan = hoc_lib.HocGAN(tiny_config(pad=6, n_layers=4))
  codes = tf.tile(hoc_lib.providers.sample_codes(gan.rng, 1, 1, 4), [1, 4, 1])  # one code, 4 layers
  out = gan.generate(codes, None, tf.random.Generator.from_seed(3), training=False)
  instance = out["instances"][0, 0].numpy()
  padded = np.pad(instance, [(6, 6), (6, 6), (0, 0)])
  shifts = []
  for layer in out["layers"][0].numpy():
    found = [(y, x) for y in range(13) for x in range(13)
             if np.allclose(padded[y:y + S, x:x + S], layer, atol=1e-6)]
    assert found, "a layer is not a pad-and-crop of its instance"
    shifts.append(found[0])
  assert len(set(shifts)) > 1  # each layer got its own offset
  # The composite is the alpha blend of the placed layers over black.
  expected = np.zeros((S, S, 3), np.float32)
  for layer in out["layers"][0].numpy():
    expected = layer[..., :3] * layer[..., 3:] + expected * (1 - layer[..., 3:])
  np.testing.assert_allclose(out["composite"][0].numpy(), expected, atol=1e-5)


def test_disk_backgrounds_are_black_inside_the_radius(pools):
  real, bg = pools
  yy, xx = np.mgrid[0:S, 0:S]
  r2 = (yy - (S - 1) / 2) ** 2 + (xx - (S - 1) / 2) ** 2
  assert (bg[:, r2 <= 8 ** 2] == 0).all()
  np.testing.assert_array_equal(bg[:, r2 > 8 ** 2], real[:, r2 > 8 ** 2])
  assert not (hoc_lib.make_backgrounds(real, tiny_config(background="black"))).any()
  gan = hoc_lib.HocGAN(tiny_config(background="black"))
  assert not gan.backgrounds(bg, gan.rng, 2).numpy().any()
  drawn = hoc_lib.HocGAN(tiny_config()).backgrounds(bg, tf.random.Generator.from_seed(0), 8).numpy()
  assert (drawn[:, r2 <= 8 ** 2] == 0).all() and drawn[:, r2 > 8 ** 2].max() > 0


def test_our_mask_priors_and_grey_q_only_when_asked(pools, plain_step):
  real, bg = (tf.constant(p) for p in pools)
  assert "support_loss" not in plain_step and "binary_loss" not in plain_step  # the paper's step
  gan = hoc_lib.HocGAN(tiny_config(q_input="carved_gray", support_lambda=5.0, binary_lambda=5.0))
  out = gan.train_step(real, bg)
  assert 0 < float(out["support_loss"]) < 1 and 0 < float(out["binary_loss"]) <= 0.25
  assert np.isfinite(float(out["info_loss"]))
  # A centred disk of radius S / 3 costs nothing; the same mask in a corner costs its area.
  yy, xx = np.mgrid[0:S, 0:S]
  centred = ((yy - 15.5) ** 2 + (xx - 15.5) ** 2 <= 8 ** 2).astype(np.float32)
  corner = np.roll(centred, (16, 16), (0, 1))
  priors = gan._mask_priors(tf.constant(np.stack([centred, corner])[..., None]))  # pylint: disable=protected-access
  np.testing.assert_allclose(float(priors["support_loss"]), corner.sum() / (2 * S * S), rtol=1e-5)
  assert float(priors["binary_loss"]) == 0.0


def test_hist_loss_only_when_asked_and_only_inside_the_disk(pools, plain_step):
  real, bg = (tf.constant(p) for p in pools)
  assert "hist_loss" not in plain_step
  gan = hoc_lib.HocGAN(tiny_config(background="median_disk", hist_lambda=10.0))
  assert float(gan.train_step(real, bg)["hist_loss"]) > 0
  x = tf.cast(real[:4], tf.float32) / 255.0
  hist = gan._hist_loss  # pylint: disable=protected-access
  inside = hoc_lib.pools.centre_disk(S, S, 8.0)[None, ..., None]
  assert float(hist(x, x[::-1])) == 0.0
  # Pixels around the disk are real in both: changing them changes nothing.
  assert float(hist(tf.where(inside, x, 1.0 - x), x)) == 0.0
  # Inside: a disk painted grey at the pixels' mean still differs from the pixels.
  mean = tf.reduce_mean(tf.boolean_mask(x, tf.broadcast_to(inside, x.shape)))
  assert float(hist(tf.where(inside, mean, x), x)) > 0.1


def test_grey_instances_for_a_grey_photo_and_median_disks(pools):
  real, _ = pools
  grey_photo = np.repeat(np.arange(48, dtype=np.uint8).reshape(6, 8, 1), 3, -1)
  colour_photo = grey_photo.copy()
  colour_photo[0, 0, 2] += 1
  auto = tiny_config(color="auto")
  assert hoc_lib.resolve_color(auto, grey_photo).color == "gray"
  assert hoc_lib.resolve_color(auto, colour_photo).color == "rgb"
  assert hoc_lib.resolve_color(tiny_config(color="rgb"), grey_photo).color == "rgb"  # given wins
  with pytest.raises(hoc_lib.RunError, match="--color=auto"):
    hoc_lib.HocGAN(auto)
  config = tiny_config(color="gray", background="median_disk")
  gan, rgb = hoc_lib.HocGAN(config), hoc_lib.HocGAN(tiny_config())
  # The same weights as the paper's generator, only its three colour channels tied.
  assert [v.shape for v in gan.generator.weights] == [v.shape for v in rgb.generator.weights]
  rgba = gan.sample_instances(4)
  np.testing.assert_allclose(rgba[..., 0], rgba[..., 1], atol=1e-6)
  np.testing.assert_allclose(rgba[..., 0], rgba[..., 2], atol=1e-6)
  assert rgba[..., :3].std() > 0 and 0 < rgba[..., 3].mean() < 1
  bg = hoc_lib.make_backgrounds(real, config)
  yy, xx = np.mgrid[0:S, 0:S]
  disk = (yy - (S - 1) / 2) ** 2 + (xx - (S - 1) / 2) ** 2 <= 8 ** 2
  assert (bg[:, disk] == bg[:, disk][:, :1]).all() and bg[:, disk].any()  # one ground colour
  out = gan.train_step(tf.constant(real), tf.constant(bg))
  assert np.isfinite(float(out["g_loss"]))


@pytest.mark.parametrize("q_input,jit", [("carved", True), ("composite", False)])
def test_steps_change_generator_discriminator_and_q(pools, q_input, jit):
  gan = hoc_lib.HocGAN(tiny_config(q_input=q_input, jit=jit))
  assert gan.opt_d.learning_rate.numpy() == np.float32(2e-4)
  assert gan.opt_g.learning_rate.numpy() == np.float32(4e-4)
  assert gan.opt_g.beta_1 == 0.5 and gan.opt_g.beta_2 == 0.999
  nets = (gan.generator, gan.discriminator, gan.q_network)
  before = [[v.numpy().copy() for v in n.trainable_variables] for n in nets]
  real, bg = (tf.constant(p) for p in pools)
  out = gan.train_step(real, bg)
  for k in ("d_loss", "g_loss", "adv_loss", "area_loss", "info_loss", "mask_area", "d_real"):
    assert np.isfinite(float(out[k])), k
  assert 0 < float(out["mask_area"]) < 1 and float(out["info_loss"]) > 0
  for net, old in zip(nets, before):
    changed = [not np.allclose(a, b.numpy()) for a, b in zip(old, net.trainable_variables)]
    assert all(changed), net.name


def test_train_resumes_from_the_saved_step(tmp_path, pools):
  real, bg = pools
  cfg = tiny_config()
  first = hoc_lib.train(cfg, real, bg, str(tmp_path), 3, log_every=1, save_every=2, image_every=0,
                        progress=False)
  assert first["step"] == 3 and first["checkpoint"].endswith("ckpt-3")
  assert {"overview", "layers", "one_sample"} <= set(first["figures"])
  assert all(os.path.isfile(p) for p in first["figures"].values())
  # A fresh model restored from the directory holds the saved weights and optimizer state.
  gan = hoc_lib.HocGAN(cfg)
  keeper = training.CheckpointKeeper(str(tmp_path / "ckpt"), **gan.checkpoint_objects())
  assert keeper.restore() == 3 and int(gan.opt_g.iterations) == 3
  second = hoc_lib.train(cfg, real, bg, str(tmp_path), 4, log_every=1, save_every=10,
                         image_every=0, progress=False)
  assert second["step"] == 4 and second["checkpoint"].endswith("ckpt-4")
  steps = [json.loads(line)["step"] for line in open(tmp_path / "metrics.jsonl")]
  assert steps == [1, 2, 3, 4]


def test_figure_grids_have_the_paper_rows(pools):
  gan = hoc_lib.HocGAN(tiny_config(n_layers=5))
  t = gan.figure_tensors(*pools, n=3)
  assert t["appearance"].shape == (3, 5, S, S, 3) and t["mask"].shape == (3, 5, S, S, 1)
  assert t["carved"].shape == (3, 5, S, S, 3) and t["composite"].shape == (3, S, S, 3)
  grids = hoc_figures.figure_grids(t)
  tile = S + 4
  assert grids["overview"].shape == (1, 4 * tile, 3 * tile, 3)  # real, composite, appearance, mask
  assert grids["layers"].shape == (1, 7 * tile, 3 * tile, 3)  # 4 carved layers + 3 rows


def test_blob_stats_counts_single_blobs_of_the_right_size():
  yy, xx = np.mgrid[0:S, 0:S]
  disk = lambda cy, cx, r: ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)
  masks = np.stack([disk(16, 16, 6),                    # one coin-sized blob: passes
                    disk(8, 8, 4) + disk(24, 24, 4),     # two blobs
                    np.zeros((S, S)),                    # empty
                    disk(16, 16, 15)])[..., None] * 0.9  # one blob, too big
  stats = hoc_eval_lib.blob_stats(masks, (60, 300))
  assert stats["layers"] == 4 and stats["one_blob_share"] == 0.5
  assert stats["one_coin_blob_share"] == 0.25 and stats["empty_share"] == 0.25


def _layer(cy, cx, r, alpha, rgb=(0.6, 0.6, 0.6)):
  yy, xx = np.mgrid[0:S, 0:S]
  disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float64)
  return np.concatenate([np.broadcast_to(rgb, (S, S, 3)), (disk * alpha)[..., None]], -1)


def test_looks_stats_see_cut_faint_and_coloured_layers():
  grey = np.full((50, 3), 0.6)
  rgba = np.stack([_layer(16, 16, 6, 1.0),    # whole, opaque
                   _layer(16, 3, 6, 0.9),     # cut by the left border
                   _layer(16, 16, 6, 0.55),   # faint
                   _layer(16, 16, 6, 0.3)])   # below the threshold: no blob, counts 0
  looks = hoc_eval_lib.looks_stats(rgba, grey)
  assert looks["border_share"] == 0.25
  np.testing.assert_allclose(looks["mean_blob_alpha"], (1.0 + 0.9 + 0.55 + 0.0) / 4)
  # The carved pixels (RGB x alpha) of faint blobs are darker than the real objects.
  assert looks["instance"]["rgb_mean"][0] < 0.6
  np.testing.assert_allclose(looks["real"]["rgb_mean"], [0.6] * 3)
  # A known colour against grey objects: the gaps are the differences.
  one = hoc_eval_lib.looks_stats(_layer(16, 16, 6, 1.0, (0.8, 0.4, 0.2))[None], grey)
  np.testing.assert_allclose(one["instance"]["rgb_mean"], [0.8, 0.4, 0.2])
  np.testing.assert_allclose(one["instance"]["rgb_std"], [0, 0, 0], atol=1e-12)
  np.testing.assert_allclose(one["instance"]["saturation"], 0.75)
  np.testing.assert_allclose([one["rgb_mean_gap"], one["saturation_gap"]], [0.4, 0.75])
  assert one["border_share"] == 0 and one["mean_blob_alpha"] == 1.0
  # No blob anywhere: colours are unknown (nan), not zero.
  empty = hoc_eval_lib.looks_stats(_layer(16, 16, 6, 0.0)[None], grey)
  assert np.isnan(empty["rgb_mean_gap"]) and empty["mean_blob_alpha"] == 0.0


def test_real_object_pixels_coins_and_central_disks():
  pixels, source = hoc_eval_lib.object_pixels(dict(image="skimage:coins"), tiny_config())
  assert "coins" in source and pixels.shape[1] == 3 and len(pixels) > 30000
  stats = hoc_eval_lib.colour_stats(pixels)
  assert 0.55 < stats["rgb_mean"][0] < 0.7 and stats["saturation"] == 0.0  # grey coins
  patches = np.zeros((2, S, S, 3), np.uint8)
  patches[:, 12:20, 12:20] = 255  # inside a disk of radius 8 around the centre (15.5, 15.5)
  disk = hoc_eval_lib.central_disk_pixels(patches, 8)
  inside = int((((np.mgrid[0:S, 0:S] - 15.5) ** 2).sum(0) <= 64).sum())
  assert len(disk) == 2 * inside and disk.max() == 1.0 and disk.sum() == 2 * 64 * 3


def test_coins_reference_finds_the_24_coins():
  areas = hoc_eval_lib.coins_reference_areas()
  assert len(areas) == 24 and 900 < areas.min() < areas.max() < 3500


def test_presets_follow_table_4():
  p = hoc_lib.PRESETS
  assert (p["crowd"]["n_layers"], p["crowd"]["z_dim"], p["crowd"]["area_target"], p["crowd"]["pad"]) \
      == (8, 6, 0.1, 30)
  assert (p["fruit"]["n_layers"], p["fruit"]["z_dim"], p["fruit"]["area_target"], p["fruit"]["pad"]) \
      == (10, 5, 0.25, 32)
  assert (p["seed"]["n_layers"], p["seed"]["z_dim"], p["seed"]["area_target"], p["seed"]["pad"]) \
      == (12, 2, 0.25, 26)
  for name in ("crowd", "fruit", "seed"):
    assert p[name]["area_lambda"] == 1000 and p[name]["beta"] == 50
  # Our mask priors are off unless a preset turns them on; only the CPU presets do.
  cpu = ["coins_cpu", "auto_cpu"]
  assert hoc_config.HocConfig().support_lambda == 0 and hoc_config.HocConfig().binary_lambda == 0
  assert [n for n in p if p[n].get("support_lambda") or p[n].get("binary_lambda")] == cpu
  assert hoc_config.HocConfig().hist_lambda == 0 and hoc_config.HocConfig().background == "disk"
  assert [n for n in p if p[n].get("hist_lambda") or "background" in p[n]] == cpu
  # auto_cpu is coins_cpu over the photo's own ground, without coins' image and window.
  assert {k: v for k, v in p["coins_cpu"].items() if k not in ("image", "window", "stride")} \
      == dict(p["auto_cpu"], background="ground")
  assert hoc_lib.PRESETS is hoc_config.PRESETS and hoc_lib.HocConfig is hoc_config.HocConfig
  with pytest.raises(FlagError, match="n_layers"):
    hoc_lib.HocConfig(n_layers=0).validate()


def test_config_errors_name_one_flag():
  for bad, flag in [(dict(width=0), "--width=0"), (dict(d_width=-1), "--d_width=-1"),
                    (dict(lr_g=0), "--lr_g=0"), (dict(beta=-1), "--beta=-1"),
                    (dict(area_lambda=-1), "--area_lambda=-1"), (dict(disk_radius=33), "--disk_radius=33"),
                    (dict(support_lambda=-1), "--support_lambda=-1"),
                    (dict(hist_lambda=-1), "--hist_lambda=-1"),
                    (dict(binary_lambda=-2), "--binary_lambda=-2")]:
    with pytest.raises(FlagError) as e:
      hoc_config.HocConfig(**bad).validate()
    assert str(e.value).startswith(flag) and str(e.value).count("--") <= 2, e.value
  # The disk fits in the patch (a radius of half the patch at most); black backgrounds have none.
  hoc_config.HocConfig(disk_radius=32).validate()
  hoc_config.HocConfig(disk_radius=100, background="black").validate()



def test_the_patch_tool_cuts_the_grid_a_run_trains_on_without_a_stride(tmp_path):
  """data_prep.hoc_patches without --stride writes the patches experiments.hoc trains on."""
  from experiments import hoc  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import pools  # pylint: disable=g-import-not-at-top
  hoc.F.values.unparse_flags()
  hoc.F.values(["hoc", "--preset=fruit", "--image=skimage:coins", "--window=60",
                f"--logdir={tmp_path / 'run'}"])
  run = hoc.config_from_flags(hoc.F).validate()
  assert run.stride == 7  # window // 8
  out = tmp_path / "patches.npz"
  r = entry.call("data_prep.hoc_patches", "--image=skimage:coins", "--window=60", "--out_size=16",
                 f"--out={out}").ok()
  assert f"stride {run.stride}," in r.out
  np.testing.assert_array_equal(pools.load_pool(str(out)), hoc_lib.make_patches(
      pools.load_image_spec(run.image), run.window, run.stride, out_size=16))


TRAIN_ARGS = ("--preset=coins_cpu", "--window=150", "--stride=60", f"--image_size={S}",
              "--width=0.125", "--d_width=0.125", "--batch_size=4", "--n_layers=2", "--disk_radius=8",
              "--steps=2", "--log_every=1", "--noprogress", "--nojit")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A two-step coins run made by the entry point: (logdir, Result)."""
  logdir = str(tmp_path_factory.mktemp("hoc") / "run")
  return logdir, entry.call("experiments.hoc", *TRAIN_ARGS, f"--logdir={logdir}").ok()


def test_entry_point_trains_and_writes_the_run(trained):
  logdir, r = trained
  saved = json.load(open(os.path.join(logdir, "flags.json")))
  assert saved["n_layers"] == 2 and saved["pad"] == 32 and saved["hflip"] and saved["window"] == 150
  # flags.json keeps the keys old runs resume with, and says the run's kind.
  assert set(saved) == set(hoc_config.config_fields()) | {
      "preset", "image", "window", "stride", "hflip", "vflip", "steps", "log_every", "save_every",
      "image_every", "strategy", "deterministic", "max_to_keep", "logdir", "patches", "application"}
  assert saved["application"] == "hoc"
  assert os.path.isfile(os.path.join(logdir, "ckpt", "checkpoint"))
  assert os.path.isfile(os.path.join(logdir, "figures", "layers.png"))
  assert "figures in" in r.out and r.out.rstrip().splitlines()[-1].startswith("step 2 (")
  # The header says where it trains, and run.json records it.
  header = next(l for l in r.out.splitlines() if l.startswith("hoc coins_cpu in "))
  assert header.endswith(devices.describe(policy="float32", jit=False)), header
  run_json = json.load(open(os.path.join(logdir, "run.json")))
  assert run_json["devices"] in header and run_json["tensorflow"] == tf.__version__


def test_entry_point_refuses_a_logdir_with_another_run(trained):
  logdir, _ = trained
  before = open(os.path.join(logdir, "flags.json")).read()
  entry.call("experiments.hoc", *TRAIN_ARGS, "--n_layers=3", f"--logdir={logdir}").failed(
      2, "other flags", "n_layers")
  assert open(os.path.join(logdir, "flags.json")).read() == before


@pytest.mark.parametrize("args,message", [
    (["--image=/no/such/photo.jpg", "--window=50"], "/no/such/photo.jpg"),
    (["--image=skimage:coins", "--window=400"], "--window=400"),
    (["--preset=crowd"], "--image=<your photo>"),
    (["--preset=fruit", "--image=skimage:coins"], "--window: required"),
    (["--preset=nope"], "--preset=nope"),
    (["--preset=coins_cpu", "--steps=abc"], "--steps"),
    (["--preset=coins_cpu", "--stride=0"], "--stride=0"),
    # One flag per message (was "--image_every must be >= 0 and --max_to_keep >= 1").
    (["--preset=coins_cpu", "--image_every=-1"], "--image_every=-1"),
    (["--preset=coins_cpu", "--max_to_keep=0"], "--max_to_keep=0"),
    # A disk wider than the 64 px patch is a flag error, not a run on black backgrounds.
    (["--preset=coins_cpu", "--disk_radius=100"], "--disk_radius=100"),
    (["--preset=coins_cpu", "--width=0"], "--width=0"),
])
def test_entry_point_bad_input_is_one_line(tmp_path, args, message):
  logdir = tmp_path / "run"
  error = entry.call("experiments.hoc", *args, f"--logdir={logdir}").failed(2, message)
  assert error.count("--") <= 2 or "--image=<your photo>" in error, error
  assert not logdir.exists()  # nothing written before every check passed


def test_entry_point_logdir_that_cannot_be_a_directory(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  for logdir in (a_file / "x", a_file):
    entry.call("experiments.hoc", "--preset=coins_cpu", f"--logdir={logdir}").failed(
        2, f"--logdir={logdir}", "not a directory")
  assert a_file.read_text() == "x"


def test_hoc_eval_scores_a_run(trained, tmp_path):
  logdir, _ = trained
  r = entry.call("experiments.hoc_eval", f"--logdir={logdir}", "--samples=8").ok()
  report = json.load(open(os.path.join(logdir, "eval.json")))
  assert report["step"] == 2 and report["layers"] == 8 and report["checkpoint"].endswith("ckpt-2")
  assert report["size_source"].startswith("24 coins of skimage:coins")
  lo, hi = report["coin_area_px"]
  assert 0 < lo < hi and report["coin_area_fraction"] == [lo / S ** 2, hi / S ** 2]
  assert f"step 2, 8 layers: one blob {report['one_blob_share']:.3f}" in r.out
  blob_line, looks_line = r.out.rstrip().splitlines()[-2:]
  assert blob_line.endswith(os.path.join(logdir, "eval.json"))
  # What the blob score cannot see: cut, faint and off-colour instances, against the coins' pixels.
  assert looks_line.startswith(f"blobs touching the border {report['border_share']:.3f}")
  for key in ("border_share", "mean_blob_alpha", "rgb_mean_gap", "rgb_std_gap", "saturation_gap"):
    assert key in report, key
  assert report["real"]["saturation"] == 0 and report["colour_source"].startswith("the coins")
  events = [f for f in os.listdir(os.path.join(logdir, "tb")) if f.endswith(".eval")]
  assert len(events) == 1
  tags = {v.tag for e in tf.compat.v1.train.summary_iterator(os.path.join(logdir, "tb", events[0]))
          for v in e.summary.value}
  assert {"eval/border_share", "eval/mean_blob_alpha", "eval/rgb_mean_gap"} <= tags
  assert os.path.isfile(os.path.join(logdir, "figures", "eval_masks.png"))
  # The library returns what eval.json holds; a given size range replaces the coins'.
  config = hoc_config.HocEvalConfig(logdir=logdir, samples=4, area_range="10,20", min_speck=2)
  score = hoc_eval_lib.evaluate(config.validate())
  assert score.report == json.load(open(score.eval_json))
  assert score.report["size_source"] == "--area_range" and score.report["coin_area_px"] == [10, 20]
  assert score.report["min_speck"] == 2 and score.patch_area == S ** 2


def test_hoc_eval_bad_input_is_one_line(trained, tmp_path):
  logdir, _ = trained
  call = lambda *a: entry.call("experiments.hoc_eval", *a)
  call().failed(2, "--logdir: required")
  call(f"--logdir={tmp_path}").failed(2, "flags.json: missing")
  call(f"--logdir={logdir}", "--samples=0").failed(2, "--samples=0")
  call(f"--logdir={logdir}", "--threshold=1.5").failed(2, "--threshold=1.5")
  call(f"--logdir={logdir}", "--area_range=5").failed(2, "--area_range=5")
  call(f"--logdir={logdir}", "--area_range=9,3").failed(2, "--area_range=9,3")
  # A segmenter run (no z_dim) is not scored with random weights.
  other = tmp_path / "fgseg"
  other.mkdir()
  (other / "flags.json").write_text(json.dumps(dict(image_size=64, width=0.25)))
  call(f"--logdir={other}").failed(2, "not a hoc.py run")
  # A HOC run of another image needs the size range; one without checkpoints says so.
  bare = tmp_path / "bare"
  bare.mkdir()
  saved = json.load(open(os.path.join(logdir, "flags.json")))
  (bare / "flags.json").write_text(json.dumps(dict(saved, image="/my/fruit.jpg")))
  call(f"--logdir={bare}").failed(2, "--area_range=lo,hi: required")
  shutil.copy(os.path.join(logdir, "flags.json"), bare / "flags.json")
  call(f"--logdir={bare}").failed(2, "ckpt: no checkpoint yet")
  assert sorted(os.listdir(bare)) == ["flags.json"]
