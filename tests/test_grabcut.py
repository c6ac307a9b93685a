"""GrabCut refinement of box-crop labels on the raw images (ind_prior_tf/postprocess/grabcut.py), and the raw
records of a prepared set it reads (data.prepared.raw_records)."""
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest

cv2 = pytest.importorskip("cv2")

# pylint: disable=g-import-not-at-top
from ind_prior_tf.apply import evaluate as evaluation
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.apply import metrics, segment_files
from ind_prior_tf.apply.config import EvalConfig
from ind_prior_tf.data import boxes, pools, prepared
from ind_prior_tf.distill import model as distill_lib
from ind_prior_tf.errors import DataError
from ind_prior_tf.postprocess import grabcut
from ind_prior_tf.postprocess.stage import PostConfig
from ind_prior_tf.runtime import training
from tests import entry
from tests.fgseg_fixtures import object_image
from tests.run_fixtures import (
  make_teacher_run,
  prepared_cub,
  random_images,
  say_foreground_everywhere,
  write_prepared,
)

S = 64


def crop_of(image, mask, box):
  region = boxes.clip_box(box, image.shape[1], image.shape[0])
  crop, crop_mask = boxes.crop_box(image, box, S, mask.astype(np.float32))
  return region, crop, crop_mask


def foreground_everywhere_run(run_dir):
  """A segmenter run whose latest checkpoint (ckpt-2; ckpt-1 is random) labels every pixel."""
  unet = say_foreground_everywhere(make_teacher_run(run_dir))
  training.CheckpointKeeper(os.path.join(run_dir, "ckpt"), unet=unet).save(2)


def iou(a, b):
  return metrics.per_image_fg_iou(a[None], b[None])[0]


def test_a_sloppy_label_snaps_to_the_object():
  image, mask, box = object_image(np.random.default_rng(0), 120, 100)
  region, _, truth = crop_of(image, mask, box)
  # A teacher that draws the ellipse's bounding square minus a margin: a blob that keeps the corners
  # of the box (background) and misses nothing but the ellipse's rim.
  sloppy = np.zeros((S, S), np.float32)
  sloppy[6:-6, 6:-6] = 1.0
  before = iou(sloppy, truth)
  refined = grabcut.refine_mask(image, region, sloppy, iterations=3)
  assert refined.shape == (S, S) and refined.dtype == np.float32
  assert 0.0 <= refined.min() and refined.max() <= 1.0
  assert before < 0.85 and iou(refined, truth) > 0.95, (before, iou(refined, truth))
  # The same call gives the same mask (OpenCV's generator is seeded each time).
  np.testing.assert_array_equal(grabcut.refine_mask(image, region, sloppy, iterations=3), refined)


def test_refine_masks_in_threads_gives_each_crop_its_own_serial_cut(monkeypatch):
  """Crops are cut side by side in threads; each result is the one refine_mask gives alone (OpenCV's
  generator is seeded per cut and per thread), in order, with the progress told for every crop."""
  rng = np.random.default_rng(3)
  photos, labels = [], []
  for k in range(21):  # more than one chunk of a worker pool
    image, mask, box = object_image(rng, 120, 100)
    region, _, _ = crop_of(image, mask, box)
    sloppy = np.zeros((S, S, 1), np.float32)
    sloppy[4 + k % 5:-6, 6:-4 - k % 3] = 1.0
    photos.append((image, region))
    labels.append(sloppy)
  alone = np.stack([grabcut.refine_mask(p, r, m, 2)[..., None] for (p, r), m in zip(photos, labels)])
  told = []
  monkeypatch.setattr(grabcut, "THREADS", 4)
  together = grabcut.refine_masks(iter(photos), np.stack(labels), 2,
                                  progress=lambda done, total: told.append((done, total)))
  np.testing.assert_array_equal(together, alone)
  assert told == [(k, 21) for k in range(1, 22)]
  assert len({float(iou(a[..., 0], m[..., 0])) for a, m in zip(alone, labels)}) > 1  # cuts differ
  with pytest.raises(ValueError, match="21 masks but fewer photos"):
    grabcut.refine_masks(iter(photos[:20]), np.stack(labels), 2)


def test_sure_pixels_of_the_mask_stay_and_the_rest_is_cut():
  image, mask, box = object_image(np.random.default_rng(0), 120, 100)
  region, _, truth = crop_of(image, mask, box)
  label = np.full((S, S), 0.3, np.float32)  # unsure everywhere: probable background ...
  label[6:-6, 6:-6] = 0.7  # ... and probable foreground, the ellipse's rim missed (as above)
  label[0:8, 0:8] = 0.99  # a corner of the box, background, which the network is sure of
  label[29:35, 24:40] = 0.01  # a strip across the object, which the network is sure is not
  corner, strip = np.zeros((S, S), bool), np.zeros((S, S), bool)
  corner[0:6, 0:6] = strip[31:33, 26:38] = True  # the sure regions, less 2 pixels of resizing
  assert not truth[corner].any() and truth[strip].all()
  free = grabcut.refine_mask(image, region, label, iterations=3)
  assert (free[corner] < 0.5).all() and (free[strip] > 0.5).all()  # the cut follows the image
  held = grabcut.refine_mask(image, region, label, iterations=3, sure=0.05)
  assert (held[corner] > 0.5).all() and (held[strip] < 0.5).all()  # ... but not where it is sure
  sure = (label > 0.95) | (label < 0.05)
  rest = cv2.dilate(sure.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0  # away from them
  assert iou(held * rest, truth * rest) > 0.95 > 0.8 > iou((label > 0.5) * rest, truth * rest)
  with pytest.raises(ValueError, match="sure=0.5"):
    grabcut.refine_mask(image, region, label, sure=0.5)


def test_nothing_to_cut_returns_the_thresholded_label():
  image, _, box = object_image(np.random.default_rng(1), 90, 80)
  region = boxes.clip_box(box, image.shape[1], image.shape[0])
  empty = np.full((S, S), 0.3, np.float32)  # no pixel above the threshold: no foreground seed
  np.testing.assert_array_equal(grabcut.refine_mask(image, region, empty), np.zeros((S, S)))
  # A full label over a box that is the whole image: no background seed anywhere.
  whole = (0, 0, image.shape[1], image.shape[0])
  full = np.full((S, S), 0.9, np.float32)
  np.testing.assert_array_equal(grabcut.refine_mask(image, whole, full), np.ones((S, S)))
  # Zero iterations: the thresholded label.
  soft = np.random.default_rng(2).random((S, S)).astype(np.float32)
  np.testing.assert_array_equal(grabcut.refine_mask(image, region, soft, iterations=0),
                                (soft > 0.5).astype(np.float32))


def test_context_window_widens_the_box_and_stays_in_the_image():
  assert grabcut.context_window((10, 20, 30, 60), 100, 70, 0.5) == (0, 0, 40, 70)
  assert grabcut.context_window((40, 20, 60, 40), 100, 70, 0.25) == (35, 15, 65, 45)


def test_refine_labels_follows_the_records_and_keeps_uint8(tmp_path):
  root, prep = prepared_cub(tmp_path, n=6)
  data = prepared.load_prepared_arrays(prep, split="all")
  records = prepared.raw_records(prep, data["ids"])
  assert [r.id for r in records] == list(data["ids"])
  sloppy = np.zeros((len(records), S, S, 1), np.uint8)
  sloppy[:, 6:-6, 6:-6] = 255
  seen = []
  refined = grabcut.refine_labels(records, sloppy, iterations=3,
                                  progress=lambda done, total: seen.append((done, total)))
  assert refined.dtype == np.uint8 and refined.shape == sloppy.shape
  assert seen[-1] == (6, 6) and len(seen) == 6
  scored = np.flatnonzero(data["has_mask"])
  truth = data["masks"][scored, ..., 0]
  before = metrics.per_image_fg_iou(sloppy[scored, ..., 0] / 255.0, truth).mean()
  after = metrics.per_image_fg_iou(refined[scored, ..., 0] / 255.0, truth).mean()
  assert after > before + 0.1, (before, after)


def test_raw_records_errors_name_what_is_missing(tmp_path):
  root, prep = prepared_cub(tmp_path, n=5)
  ids = prepared.load_prepared_arrays(prep, split="all")["ids"]
  with pytest.raises(DataError, match="no image with id 99"):
    prepared.raw_records(prep, [*ids, 99])
  with pytest.raises(DataError, match="elsewhere: no such directory"):
    prepared.raw_records(prep, ids, raw_root=os.path.join(str(tmp_path), "elsewhere"))
  other = str(tmp_path / "synthetic")
  examples = ({"image": np.zeros((S, S, 3), np.uint8), "mask": None, "id": 1, "is_train": True},)
  prepared.write_prepared(other, examples, S, "synthetic")
  with pytest.raises(DataError, match="not from raw CUB or CelebA"):
    prepared.raw_records(other, [1])
  # An explicit root works for a set whose recorded source is not a raw one.
  assert prepared.raw_records(other, [1], raw_root=root)[0].id == 1


def test_distill_refines_the_teachers_labels_and_refuses_a_set_without_raw_images(tmp_path):
  teacher = str(tmp_path / "teacher")
  foreground_everywhere_run(teacher)
  root, prep = prepared_cub(tmp_path, n=6)
  # What distill does with --grabcut_iters=2 --flip_average_labels: the teacher labels every pixel
  # (its mirror too); GrabCut cuts each box down to its ellipse.
  unet, _, _ = segmenter.load_run_segmenter(teacher)
  data = prepared.load_prepared_arrays(prep, split="all")
  labels = distill_lib.teacher_labels(unet, data["images"], out_size=S, flip_average=True)
  refined = grabcut.refine_labels(prepared.raw_records(prep, data["ids"]), labels, 2)
  before, after = labels.mean() / 255.0, refined.mean() / 255.0
  assert before > 0.95 and 0.3 < after < 0.9, (before, after)
  # The entry point does it (its line reports the areas) and records the flags.
  pools.save_pool(str(tmp_path / "bg.npz"), random_images(4, S, seed=3))
  common = [f"--teacher={teacher}", f"--backgrounds={tmp_path / 'bg.npz'}", "--batch_size=2",
            "--nojit", "--noprogress", "--steps=1", "--eval_every=0"]
  r = entry.call("experiments.distill", *common, f"--prepared={prep}", f"--logdir={tmp_path / 's'}",
                 "--grabcut_iters=2", "--flip_average_labels").ok()
  line = [l for l in r.out.splitlines() if l.startswith("labels refined by GrabCut")]
  assert len(line) == 1 and line[0].endswith(f"{before:.3f} -> {after:.3f}"), (line, before, after)
  saved = json.load(open(tmp_path / "s" / "flags.json"))
  assert saved["grabcut_iters"] == 2 and saved["raw_root"] is None and saved["flip_average_labels"]
  # A prepared set made from no raw files, a bad count, a missing raw root: one-line errors.
  write_prepared(tmp_path / "synthetic", random_images(3))
  r = entry.call("experiments.distill", *common, f"--prepared={tmp_path / 'synthetic'}",
                 f"--logdir={tmp_path / 's2'}", "--grabcut_iters=1")
  r.failed(2, "--grabcut_iters", "meta.json", "synthetic")
  assert not os.path.exists(tmp_path / "s2" / "ckpt")
  r = entry.call("experiments.distill", *common, f"--prepared={prep}",
                 f"--logdir={tmp_path / 's3'}", "--grabcut_iters=-1")
  r.failed(2, "--grabcut_iters=-1")
  r = entry.call("experiments.distill", *common, f"--prepared={prep}",
                 f"--logdir={tmp_path / 's4'}", "--grabcut_iters=1",
                 f"--raw_root={tmp_path / 'gone'}")
  r.failed(2, "--raw_root", "gone")


def test_segment_files_cuts_a_whole_box_mask_down_to_the_object(tmp_path):
  image, mask, box = object_image(np.random.default_rng(4), 120, 100)
  os.makedirs(tmp_path / "img")
  Image.fromarray(image).save(tmp_path / "img" / "a.png")
  items = segment_files.read_image_list(str(tmp_path / "img"))
  inp = keras.Input((S, S, 3))
  box_everywhere = keras.Model(inp, keras.layers.Lambda(lambda x: x[..., :1] * 0 + 1)(inp))
  written = {}
  for iters, sure in ((0, 0), (2, 0), (2, 0.05)):
    out = str(tmp_path / f"out{iters}-{sure}")
    post = PostConfig(grabcut_iters=iters, grabcut_sure=sure, guided_radius=2 if sure else 0,
                      crf_weight=5.0 if sure else 0.0, crf_context=0.5 if sure else 0.0)
    segment_files.segment_files(box_everywhere, items, out, post=post, boxes={"a.png": box},
                                progress=False)
    written[iters, sure] = np.asarray(Image.open(os.path.join(out, "masks", "a.png"))) > 127
  # Sure of the whole box (the CRF and a guided filter keep a constant mask): no cut.
  np.testing.assert_array_equal(written[2, 0.05], written[0, 0])
  assert iou(written[0, 0].astype(np.float32), mask.astype(np.float32)) < 0.85  # the whole box
  assert iou(written[2, 0].astype(np.float32), mask.astype(np.float32)) > 0.95
  assert not written[2, 0][:, :box[0]].any()  # still nothing outside the box


def test_evaluate_reads_each_photo_once_for_the_crf_and_grabcut(tmp_path, monkeypatch):
  run_dir = str(tmp_path / "teacher")
  foreground_everywhere_run(run_dir)
  _, prep = prepared_cub(tmp_path, n=6)
  read, load = [], grabcut.images.load_image_rgb
  monkeypatch.setattr(grabcut.images, "load_image_rgb", lambda path: read.append(path) or load(path))
  config = EvalConfig(run_dir=run_dir, prepared=prep, split="train", cases=2, post_flags=dict(
      grabcut_iters=1, crf_weight=5.0, crf_context=0.5, crf_iters=2))
  report = evaluation.evaluate(config).report
  assert report["postprocess"]["crf_context"] == 0.5 and report["postprocess"]["grabcut_iters"] == 1
  # Once each, in the one scoring pass (the cases drawn, one best and one worst, come from it).
  assert len(read) == len(set(read)) == report["images"], (read, report)


def test_evaluate_scores_the_refined_masks_beside_the_networks(tmp_path):
  run_dir = str(tmp_path / "teacher")
  foreground_everywhere_run(run_dir)
  root, prep = prepared_cub(tmp_path, n=6)
  config = EvalConfig(run_dir=run_dir, prepared=prep, split="train",
                      post_flags=dict(grabcut_iters=2))
  result = evaluation.evaluate(config)
  report = result.report
  assert report == json.load(open(os.path.join(run_dir, "eval-train-gc2", "scores.json")))
  assert report["postprocess"]["grabcut_iters"] == 2
  # The network draws the whole box; the cut is the ellipse.
  assert abs(report["network"]["fg_iou"] - report["whole_box_fg_iou"]) < 1e-6
  assert report["fg_iou"] > 0.9 > report["network"]["fg_iou"] + 0.1, report
  assert (f"the network alone, before the steps after it: fg IoU {report['network']['fg_iou']:.3f}"
          in evaluation.summary_lines(config, result)[1])
  common = ["experiments.evaluate", f"--run_dir={run_dir}", f"--prepared={prep}", "--split=train"]
  entry.call(*common, "--grabcut_iters=1", f"--raw_root={tmp_path / 'gone'}").failed(
      2, "--raw_root", "gone")
  assert os.path.isfile(os.path.join(run_dir, "eval-train-gc2", "scores.json"))  # kept
  # The network is sure of its whole box (mask 1, which the colour CRF and a guided filter keep):
  # with --grabcut_sure GrabCut may move none of it, so the score is the network's; flip averaging
  # changes nothing here but names the output directory and the report.
  r = entry.call(*common, "--grabcut_iters=2", "--grabcut_sure=0.05", "--guided_radius=2",
                 "--crf_weight=5", "--crf_iters=3", "--flip_average").ok()
  out = os.path.join(run_dir, "eval-train-flip-crf5i3-gf2-gc2s0.05")
  held = json.load(open(os.path.join(out, "scores.json")))
  assert held["postprocess"] == dict(PostConfig(
      flip_average=True, grabcut_iters=2, grabcut_sure=0.05, guided_radius=2, crf_weight=5.0,
      crf_iters=3).to_dict()) and held["flip_average"] is True
  assert abs(held["fg_iou"] - report["network"]["fg_iou"]) < 1e-6, (held, report)
  assert "holding the pixels within 0.05 of 0 or 1" in r.out
  assert "flip-averaged, colour CRF w=5 on the crop, guided filter r=2" in r.out
  assert r.out.startswith("post-processing: flip-averaged, colour CRF")
  # The network alone is the network's own mask, before the CRF and the guided filter.
  assert held["network"] == report["network"]
  plain = entry.call(*common, f"--out_dir={tmp_path / 'plain'}").ok()
  assert "postprocess" not in json.load(open(tmp_path / "plain" / "scores.json"))
  assert plain.out.startswith("post-processing: none (the network's masks as they are)")
  for bad in ("--grabcut_sure=0.5", "--guided_radius=-1", "--guided_eps=0", "--crf_weight=-1",
              "--crf_sigma=0", "--crf_iters=0"):
    entry.call(*common, "--grabcut_iters=1", bad, f"--out_dir={out}").failed(2, bad)
  assert json.load(open(os.path.join(out, "scores.json"))) == held  # kept
  # The CRF on the photos around the boxes reads the raw images even without GrabCut.
  r = entry.call(*common, "--crf_weight=5", "--crf_context=0.5", "--crf_iters=2",
                 f"--out_dir={tmp_path / 'photo'}").ok()
  on_photo = json.load(open(tmp_path / "photo" / "scores.json"))
  assert on_photo["postprocess"]["crf_context"] == 0.5
  assert on_photo["postprocess"]["grabcut_iters"] == 0
  assert "colour CRF w=5 on the photo (context 0.5)" in r.out
  # Even a network sure of its whole box loses ground there whose colours fill the box's outside.
  assert on_photo["fg_iou"] > report["network"]["fg_iou"] + 0.005, (on_photo, report)
  entry.call(*common, "--crf_weight=5", "--crf_context=3").failed(2, "--crf_context=3")
