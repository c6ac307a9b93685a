"""Counting on a photo nobody tuned on: settings read from the photo (polarity, object size,
window, a, layers), its ground with the objects painted out, the classical count, the trust check
of the student's instances, and the whole path of experiments.hoc_auto on a synthetic cluster
(tiny models)."""
import json

import numpy as np
import pytest

from ind_prior_tf.hoc.instances import baseline as cluster_baseline
from ind_prior_tf.hoc.instances import estimate as cluster_estimate
from ind_prior_tf.hoc.instances import metrics as instance_metrics
from ind_prior_tf.hoc.instances import trust as count_trust


def disc_grid(radius=10, rows=4, cols=5, gap=0, size=None, bright=200, ground=40, noise=0.0,
              seed=0):
  """(uint8 [H, W, 3] image, int32 labels): rows x cols discs of `radius` px on a grid, centres
  2 * radius + gap apart (gap 0: touching neighbours), on a flat ground."""
  step = 2 * radius + gap
  h, w = size or (rows * step + 2 * radius, cols * step + 2 * radius)
  yy, xx = np.mgrid[0:h, 0:w]
  labels = np.zeros((h, w), np.int32)
  k = 0
  for i in range(rows):
    for j in range(cols):
      k += 1
      cy, cx = 2 * radius + i * step, 2 * radius + j * step
      labels[(np.hypot(yy - cy, xx - cx) <= radius) & (labels == 0)] = k
  rng = np.random.default_rng(seed)
  grey = np.where(labels > 0, bright, ground) + noise * rng.standard_normal((h, w))
  image = np.repeat(np.clip(np.round(grey), 0, 255).astype(np.uint8)[..., None], 3, -1)
  return image, labels


@pytest.mark.parametrize("radius", [8, 14])
def test_estimate_recovers_radius_polarity_and_window(radius):
  image, labels = disc_grid(radius, gap=3, noise=8)
  est = cluster_estimate.estimate(image)
  assert est.polarity == "bright"
  assert est.radius == pytest.approx(radius, abs=1.5)
  assert est.radius_hi == pytest.approx(radius, abs=1.5)
  assert est.objects == labels.max()
  assert est.window == round(3 * est.radius_hi)  # 1.5x the largest object's width
  assert est.area_target == pytest.approx(np.pi * radius ** 2 / est.window ** 2, rel=0.15)
  assert 2 <= est.n_layers <= 4
  dark = cluster_estimate.estimate(255 - image)  # dark objects on a bright ground
  assert dark.polarity == "dark" and dark.radius == pytest.approx(est.radius, abs=0.5)
  assert cluster_estimate.estimate(image, "dark").polarity == "dark"  # as told


def test_estimate_picks_the_objects_not_the_ground_of_a_dense_cluster():
  """Touching discs leave the ground in concave pieces between them: the objects are the side
  whose regions are solid, though here they are the majority."""
  image, labels = disc_grid(10, rows=5, cols=6, gap=-2, noise=5)
  assert (labels > 0).mean() > 0.5
  for img, polarity in ((image, "bright"), (255 - image, "dark")):
    est = cluster_estimate.estimate(img)
    assert est.polarity == polarity
    assert est.solidity[polarity] > est.solidity["dark" if polarity == "bright" else "bright"]


@pytest.mark.parametrize("gap", [-2, 0, 4])
def test_baseline_counts_touching_and_separate_discs_exactly(gap):
  image, labels = disc_grid(11, rows=4, cols=6, gap=gap, noise=10)
  for img in (image, 255 - image):
    est = cluster_estimate.estimate(img)
    found = cluster_baseline.baseline_labels(img, est.polarity, est.radius)
    s = instance_metrics.instance_scores(found, labels)
    assert s["count_error"] == 0 and s["ap"] == 1.0, s


def test_baseline_keeps_a_pale_object_under_otsus_threshold_of_the_photo():
  """Otsu's threshold between the ground and the bright objects lies above a pale object; the
  lenient threshold, where the object stands out from its own neighbourhood, keeps it."""
  image, labels = disc_grid(10, rows=3, cols=4, gap=8, noise=4, ground=30, bright=210)
  pale = labels == labels.max()
  image[pale] = 100
  gray = cluster_baseline.to_gray(image)
  assert not cluster_estimate.side_mask(gray, "bright")[0][pale].any()  # under Otsu's threshold
  est = cluster_estimate.estimate(image)
  assert (est.polarity, est.context) == ("bright", 0.0)
  assert cluster_baseline.object_side(gray, "bright", est.radius)[pale].mean() > 0.9
  found = cluster_baseline.baseline_labels(image, est.polarity, est.radius)
  s = instance_metrics.instance_scores(found, labels)
  assert s["count_error"] == 0 and s["ap"] == 1.0, s


def test_baseline_recuts_ground_lit_along_an_edge():
  """A bright margin along the top edge, touching the first row of discs, is on the objects' side of
  Otsu's threshold; recut at its own threshold it leaves the discs alone (skimage's coins)."""
  image, labels = disc_grid(10, rows=3, cols=6, gap=8, noise=4, ground=30, bright=210)
  image[:13] = np.where(labels[:13, :, None] > 0, image[:13], 150)
  gray = cluster_baseline.to_gray(image)
  est = cluster_estimate.estimate(image)
  assert est.polarity == "bright" and est.radius == pytest.approx(10, abs=1.5)
  margin = np.zeros(labels.shape, bool)
  margin[:13] = labels[:13] == 0
  assert cluster_baseline.object_side(gray, "bright", est.radius, edge_reach=0, local=0)[margin].all()
  assert cluster_baseline.object_side(gray, "bright", est.radius, edge_reach=0)[margin].mean() > 0.5
  side = cluster_baseline.object_side(gray, "bright", est.radius)
  assert side[margin].mean() < 0.05 and side[labels > 0].mean() > 0.95
  found = cluster_baseline.baseline_labels(image, est.polarity, est.radius)
  s = instance_metrics.instance_scores(found, labels)
  assert s["count_error"] == 0 and s["ap"] == 1.0, s


def touching_ovals(seed, size=160, count=30, axes=(13, 10)):
  """(uint8 [H, W, 3], int32 labels): about `count` ovals of random size and angle, packed at random
  so that they touch (each overlaps the others by at most 8% of its area), each brightest at its
  centre (a nucleus), blurred by 1.5 px on a dark ground with noise."""
  from scipy import ndimage
  rng = np.random.default_rng(seed)
  labels = np.zeros((size, size), np.int32)
  grey = np.zeros((size, size))
  yy, xx = np.mgrid[0:size, 0:size]
  a0, b0 = axes
  reach = np.sqrt(count) * 11
  k = 0
  for _ in range(20000):
    if k == count:
      break
    cy, cx = size / 2 + rng.uniform(-reach, reach, 2)
    if np.hypot(cy - size / 2, cx - size / 2) > reach or not (a0 < cy < size - a0 and a0 < cx < size - a0):
      continue
    th, a, b = rng.uniform(0, np.pi), a0 * rng.uniform(.85, 1.15), b0 * rng.uniform(.85, 1.15)
    win = (slice(int(cy - a - 2), int(cy + a + 3)), slice(int(cx - a - 2), int(cx + a + 3)))
    y, x = yy[win] - cy, xx[win] - cx
    rho2 = ((x * np.cos(th) + y * np.sin(th)) / a) ** 2 + ((y * np.cos(th) - x * np.sin(th)) / b) ** 2
    inside = rho2 <= 1
    if (labels[win][inside] > 0).mean() > 0.08:
      continue
    k += 1
    labels[win][inside & (labels[win] == 0)] = k
    grey[win][inside] = 0.28 * rng.uniform(.7, 1.3) * (1 - 0.3 * rho2[inside])
  grey = ndimage.gaussian_filter(grey, 1.5) + 0.08 + rng.normal(0, 0.05, grey.shape)
  image = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
  return np.repeat(image[..., None], 3, -1), labels


def test_baseline_parts_touching_objects_where_they_stand_out_from_their_surroundings():
  """Touching ovals, each brightest at its centre: the necks between them pass Otsu's threshold of
  the photo, and the distance transform of that side misses some of the ovals; the side kept where
  the photo stands out from its Gaussian mean over a radius parts them (Otsu's side alone, with
  only its pale pixels compared with their surroundings, merged ovals on several of these seeds)."""
  scores = []
  for seed in range(8):
    image, labels = touching_ovals(seed)
    est = cluster_estimate.estimate(image)
    assert (est.polarity, est.context) == ("bright", 0.0)
    found = cluster_baseline.baseline_labels(image, est.polarity, est.radius)
    scores.append(instance_metrics.instance_scores(found, labels))
  assert sum(abs(s["count_error"]) for s in scores) <= 5, [s["count_error"] for s in scores]
  assert np.mean([s["ap"] for s in scores]) > 0.9, [s["ap"] for s in scores]


@pytest.mark.parametrize("noise", [4, 10])
def test_baseline_keeps_the_flat_inside_of_a_large_object_whole(noise):
  """A flat disc four times the radius among small ones: inside it the photo equals its Gaussian
  mean up to noise, so the comparison with the surroundings alone riddles it with holes that the
  watershed cuts into several objects; its core, well past Otsu's threshold, is kept whole."""
  _, small = disc_grid(8, rows=5, cols=8, gap=6)
  h, w = small.shape
  labels = np.pad(small, ((0, 90), (0, 0)))
  yy, xx = np.mgrid[0:h + 90, 0:w]
  labels[np.hypot(yy - (h + 42), xx - w // 2) <= 35] = small.max() + 1
  grey = np.where(labels > 0, 200, 30) + noise * np.random.default_rng(0).standard_normal(labels.shape)
  image = np.repeat(np.clip(np.round(grey), 0, 255).astype(np.uint8)[..., None], 3, -1)
  est = cluster_estimate.estimate(image)
  assert est.radius == pytest.approx(8, abs=1)
  found = cluster_baseline.baseline_labels(image, est.polarity, est.radius)
  s = instance_metrics.instance_scores(found, labels)
  assert s["count_error"] == 0 and s["ap"] == 1.0, s


def cells_with_nuclei(cell=28, nucleus=(8, 5), rows=3, cols=4, seed=0):
  """(uint8 [H, W, 3], int32 nucleus labels): grey cells on a bright slide, each with one dark
  oval nucleus (semi-axes `nucleus`) off its centre (a brightfield slide)."""
  from scipy import ndimage
  rng = np.random.default_rng(seed)
  step = 2 * cell + 24
  h, w = rows * step + 10, cols * step + 10
  yy, xx = np.mgrid[0:h, 0:w]
  cells, labels = np.zeros((h, w)), np.zeros((h, w), np.int32)
  for k, (i, j) in enumerate(np.ndindex(rows, cols), 1):
    cy, cx = 5 + cell + i * step, 5 + cell + j * step
    # A lobed outline, as real cells have: a perfectly round one would be the more solid object.
    theta, p1, p2 = np.arctan2(yy - cy, xx - cx), *rng.uniform(0, 2 * np.pi, 2)
    edge = cell * (1 + 0.2 * np.sin(3 * theta + p1) + 0.12 * np.sin(5 * theta + p2))
    cells[np.hypot(yy - cy, xx - cx) <= edge] = 1
    ny, nx = cy + rng.integers(-8, 9), cx + rng.integers(-8, 9)
    labels[np.hypot((yy - ny) / nucleus[1], (xx - nx) / nucleus[0]) <= 1] = k
  grey = 225 - 75 * ndimage.gaussian_filter(cells, 3)  # a cell's edge is soft
  grey[labels > 0] = 60
  grey += 4 * rng.standard_normal((h, w))
  return np.repeat(np.clip(np.round(grey), 0, 255).astype(np.uint8)[..., None], 3, -1), labels


def test_estimate_counts_the_nuclei_inside_cells_not_the_cells():
  image, labels = cells_with_nuclei()
  est = cluster_estimate.estimate(image)
  assert est.polarity == "dark" and est.context > 0, est
  assert est.radius == pytest.approx(5, abs=1.5) and est.objects == labels.max()
  assert "inside larger dark regions" in est.summary()
  side = cluster_estimate.object_side(image, est)
  assert side[labels > 0].mean() > 0.9 and side[labels == 0].mean() < 0.02  # the nuclei alone
  found = cluster_baseline.baseline_labels(image, est.polarity, est.radius, est.context)
  s = instance_metrics.instance_scores(found, labels)
  assert s["count_error"] == 0 and s["ap"] == 1.0, s
  # Plain discs are no containers: the nested candidate covers the discs' texture at most.
  plain, _ = disc_grid(10, gap=3, noise=8)
  assert cluster_estimate.estimate(255 - plain).context == 0.0


def test_split_mask_keeps_a_seedless_part_and_drops_specks():
  mask = np.zeros((40, 60), bool)
  mask[10:30, 5:25] = True   # a square: one object
  mask[18:20, 40:42] = True  # a speck, far under a quarter disc of radius 10
  labels = cluster_baseline.split_mask(mask, 10)
  assert labels.max() == 1 and (labels[10:30, 5:25] == 1).all() and not labels[18:20, 40:42].any()


def test_ground_image_paints_the_objects_out_with_the_grounds_noise():
  image, labels = disc_grid(10, gap=6, noise=6, ground=60)
  est = cluster_estimate.estimate(image)
  ground = cluster_estimate.ground_image(image, est, seed=1)
  hole = cluster_estimate.object_mask(image, est)
  assert (ground[~hole] == image[~hole]).all()  # the ground itself is kept as it is
  inside = ground[labels > 0, 0].astype(float)
  outside = image[~hole, 0].astype(float)
  assert inside.mean() == pytest.approx(outside.mean(), abs=3)  # the objects are gone
  assert inside.std() == pytest.approx(outside.std(), rel=0.3)  # and the noise is the ground's


def test_ground_image_of_a_photo_without_ground_is_its_median():
  image = np.full((40, 40, 3), 100, np.uint8)
  image[::2] = 120
  est = cluster_estimate.Estimate("bright", 4, 4, 50, 1.0, 1, 16, 0.2, 2, {}, 0.4)
  out = cluster_estimate.ground_image(image, est)
  assert out.shape == image.shape


def _rgba_discs(count, size=64, radius=12, grey=0.8):
  yy, xx = np.mgrid[0:size, 0:size]
  alpha = (np.hypot(yy - size / 2, xx - size / 2) <= radius).astype(float)
  rgba = np.zeros((count, size, size, 4))
  rgba[..., :3] = grey
  rgba[..., 3] = alpha
  return rgba


def test_gan_reference_scales_the_instances_to_the_photo():
  ref = count_trust.gan_reference(_rgba_discs(5, radius=12, grey=0.7), window=32)
  assert ref.grey == pytest.approx(0.7)
  area64 = (_rgba_discs(1, radius=12)[0, ..., 3] > 0.5).sum()
  assert ref.area == pytest.approx(area64 / 4)  # 64 px of a patch are 32 px of the photo


def test_trust_check_flags_a_student_that_marks_the_ground():
  from skimage import measure
  image, labels = disc_grid(10, gap=8, noise=5)
  gray = cluster_estimate.to_gray(image)
  side = cluster_estimate.side_mask(gray, "bright")[0]
  ref = count_trust.Reference(grey=float(np.median(gray[labels > 0])), area=np.pi * 100)
  good = count_trust.check(gray, labels, side, ref)
  assert good.trusted and good.like_share == 1.0 and good.sized_share == 1.0, good.summary()
  # The ground between the discs cut into disc-sized pieces: what a student that counts the ground would give.
  ground = measure.label((labels == 0) & (np.arange(gray.shape[1])[None] % 24 != 0))
  bad = count_trust.check(gray, ground, side, ref)
  assert not bad.trusted and bad.like_share == 0.0
  assert "look like the GAN's" in bad.summary()
  # A GAN whose instances are the ground's grey is not trusted, whatever the student found.
  ground_gan = count_trust.Reference(grey=float(np.median(gray[labels == 0])), area=np.pi * 100)
  assert "look like the ground" in count_trust.check(gray, labels, side, ground_gan).summary()
  empty = count_trust.check(gray, np.zeros_like(labels), side, ref)
  assert not empty.trusted and "no instance found" in empty.reasons


def test_trust_check_flags_instances_of_the_wrong_size():
  image, labels = disc_grid(10, gap=8, noise=5)
  gray = cluster_estimate.to_gray(image)
  side = cluster_estimate.side_mask(gray, "bright")[0]
  ref = count_trust.Reference(grey=float(np.median(gray[labels > 0])), area=np.pi * 30 ** 2)
  t = count_trust.check(gray, labels, side, ref)
  assert not t.trusted and t.sized_share == 0.0 and "size" in t.summary()
  # Touching objects merged three by three: three times the GAN's area.
  merged = (labels + 2) // 3
  ref = count_trust.Reference(grey=ref.grey, area=float(np.bincount(labels.ravel())[1:].mean()))
  assert count_trust.check(gray, labels, side, ref).trusted
  assert not count_trust.check(gray, merged, side, ref).trusted


# -- the whole path --------------------------------------------------------------------------------

TINY_HOC = dict(image_size=32, width=0.125, d_width=0.125, batch_size=4, disk_radius=8, jit=False)
TINY_COUNT = dict(batch_size=4, width=0.125, jit=False)


def test_hoc_auto_counts_a_photo_and_says_where_the_count_comes_from(tmp_path):
  from PIL import Image

  from ind_prior_tf.hoc import auto as hoc_auto
  from ind_prior_tf.hoc.instances import data as instances_data
  image, truth = instances_data.synthetic_cluster(size=(96, 128), count=15, seed=3)
  Image.fromarray(image).save(tmp_path / "cluster.png")
  instance_metrics.write_labels(str(tmp_path / "truth.png"), truth)
  config = hoc_auto.AutoConfig(image=str(tmp_path / "cluster.png"), logdir=str(tmp_path / "run"),
                               labels=str(tmp_path / "truth.png"), steps=2, count_steps=2,
                               samples=8, progress=False, hoc_overrides=TINY_HOC,
                               count_overrides=TINY_COUNT).validate()
  lines = []
  report, trust = hoc_auto.count(config, log=lines.append)
  est = cluster_estimate.estimate(image)
  run = json.load(open(tmp_path / "run" / "flags.json"))
  assert (run["window"], run["n_layers"], run["background"]) == (est.window, est.n_layers, "photo")
  assert run["area_target"] == pytest.approx(est.area_target, abs=1e-4)
  # Two steps teach nothing that could be trusted: the count is the classical one, said so.
  baseline = cluster_baseline.baseline_labels(image, est.polarity, est.radius)
  assert not trust.trusted and report["source"] == "baseline"
  assert report["count"] == report["baseline_count"] == baseline.max()
  final = instance_metrics.read_labels(report["paths"]["labels"])
  assert (final == baseline).all()
  assert report["scores"]["final"] == instance_metrics.instance_scores(baseline, truth)
  out = hoc_auto.summary_lines(report, trust)
  assert out[-1] == f"count: {baseline.max()} (from the classical baseline, because the " \
                    "student's count is not trusted)"
  assert json.load(open(tmp_path / "run" / "count.json"))["count"] == report["count"]
  assert (tmp_path / "run" / "instances" / "student" / "cluster_labels.png").is_file()


def test_hoc_auto_bad_input_is_one_line(tmp_path):
  from tests import entry
  call = lambda *a: entry.call("experiments.hoc_auto", f"--logdir={tmp_path / 'run'}", *a)
  call().failed(2, "--image: required")
  call("--image=/no/such.png").failed(2, "/no/such.png")
  call("--image=skimage:coins", "--polarity=grey").failed(2, "--polarity")
  call("--image=skimage:coins", "--steps=0").failed(2, "--steps=0")
  call("--image=skimage:coins", f"--labels={tmp_path}/none.png").failed(2, "--labels")
  assert not (tmp_path / "run").exists()
