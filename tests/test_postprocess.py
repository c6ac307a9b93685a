"""The post-processing stage (postprocess.py): its config, the recipe a run carries, and the promise
that evaluate (the chain's score), segment, the Python API and export apply the one stage alike."""
import dataclasses
import json
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from ind_prior_tf import api
from ind_prior_tf.apply import evaluate as evaluation
from ind_prior_tf.apply import export, segment_files
from ind_prior_tf.apply.config import EvalConfig, resolve_post
from ind_prior_tf.data import raw
from ind_prior_tf.errors import FlagError
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.postprocess.stage import PostConfig
from tests import entry
from tests.run_fixtures import make_teacher_run, prepared_cub

RECIPE = PostConfig(flip_average=True, shift_average=2, crf_weight=5.0, crf_iters=3,
                    crf_context=0.5, guided_radius=2, grabcut_iters=1, grabcut_sure=0.05,
                    grabcut_floor=True, floor_margin=0.0, floor_agreement=0.3)


def test_the_config_checks_names_and_describes_every_setting():
  assert PostConfig().is_identity() and PostConfig().tag() == ""
  assert not PostConfig().after_network and not PostConfig().needs_photos
  assert RECIPE.needs_photos and RECIPE.after_network and RECIPE.needs_opencv
  assert RECIPE.tag() == "flip-shift2-crf5c0.5i3-gf2-gc1s0.05-floor0a0.3t0.02"
  assert RECIPE.describe() == (
      "flip-averaged, shift-averaged (2 px), colour CRF w=5 on the photo (context 0.5), guided "
      "filter r=2, 1 GrabCut iterations holding the pixels within 0.05 of 0 or 1, the floor: "
      "GrabCut from the box alone unless the mask fits the colours better by 0 and agrees with it "
      "(IoU >= 0.3), on a set the network knows (median fit gap >= 0.02) only where they disagree "
      "and the cut fits better")
  # Every field that changes the numbers changes the folder's name.
  changed = dict(flip_average=False, shift_average=3, crf_weight=4.0, crf_sigma=6.0, crf_iters=4,
                 crf_context=0.25, guided_radius=3, guided_eps=1e-3, grabcut_iters=2,
                 grabcut_sure=0.1, grabcut_floor=False, floor_margin=0.02, floor_agreement=0.5,
                 floor_trust=0.1, grey_network=True)
  assert set(changed) == set(postprocess.FIELDS)
  tags = {dataclasses.replace(RECIPE, **{k: v}).tag() for k, v in changed.items()}
  assert len(tags) == len(changed) and RECIPE.tag() not in tags
  for bad, flag in ((dict(shift_average=33), "--shift_average=33"),
                    (dict(grabcut_sure=0.5), "--grabcut_sure=0.5"),
                    (dict(crf_context=3), "--crf_context=3"), (dict(crf_iters=0), "--crf_iters=0"),
                    (dict(flip_average="yes"), "--flip_average=yes"),
                    (dict(grabcut_floor=1), "--grabcut_floor=1"),
                    (dict(floor_margin=1.5), "--floor_margin=1.5"),
                    (dict(floor_agreement=-0.1), "--floor_agreement=-0.1"),
                    (dict(floor_trust=1.5), "--floor_trust=1.5"),
                    (dict(grey_network=0), "--grey_network=0")):
    with pytest.raises(FlagError, match=f"^{flag}"):
      dataclasses.replace(RECIPE, **bad).validate()


def test_a_runs_recipe_round_trips_and_bad_files_are_named(tmp_path):
  run = str(tmp_path / "run")
  path = postprocess.write_recipe(run, RECIPE)
  assert postprocess.run_recipe(run) == RECIPE
  assert resolve_post("run", run) == (RECIPE, f"the run's recipe ({path})")
  assert resolve_post("none", run)[0] == PostConfig()
  assert resolve_post("run", str(tmp_path))[0] == PostConfig()  # no recipe: the network's masks
  post, source = resolve_post("run", run, dict(grabcut_iters=0))
  assert post == dataclasses.replace(RECIPE, grabcut_iters=0) and "--grabcut_iters=0" in source
  # JSON's whole floats are read as the counts they are.
  (tmp_path / "floats.json").write_text(json.dumps(dict(grabcut_iters=3.0, crf_weight=5)))
  assert resolve_post(str(tmp_path / "floats.json"), run)[0] == PostConfig(grabcut_iters=3,
                                                                           crf_weight=5)
  for text, needle in (("{", "not JSON"), ("[1]", "JSON object"),
                       (json.dumps(dict(grabcut_weight=0.5)), "unknown setting 'grabcut_weight'"),
                       (json.dumps(dict(grabcut_sure=0.7)), "--grabcut_sure=0.7")):
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(FlagError, match=needle):
      resolve_post(str(tmp_path / "bad.json"), run)
  with pytest.raises(FlagError, match="^--postprocess=best: expected run, none, chain"):
    resolve_post("best", run)


def test_run_batch_is_the_network_alone_without_steps_and_keeps_it_apart_with_them():
  rng = np.random.default_rng(0)
  crops = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
  net = rng.uniform(size=(2, 16, 16, 1)).astype(np.float32)
  network, final = postprocess.run_batch(PostConfig(), lambda x: net, crops)
  np.testing.assert_array_equal(network, net)
  np.testing.assert_array_equal(final, net)
  network, final = postprocess.run_batch(PostConfig(crf_weight=5.0, guided_radius=2),
                                         lambda x: net, crops)
  np.testing.assert_array_equal(network, net)  # the network's own masks, before the steps
  assert final.shape == net.shape and np.abs(final - net).max() > 0.05


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
  """A run with random weights (masks that depend on the crop) carrying RECIPE, and a prepared CUB
  set whose crops are at the network's size (so evaluate's crops are segment's)."""
  tmp = tmp_path_factory.mktemp("post")
  run = str(tmp / "run")
  make_teacher_run(run, seed=3)
  postprocess.write_recipe(run, RECIPE)
  root, prep = prepared_cub(tmp, n=6)
  return dict(tmp=tmp, run=run, root=root, prep=prep)


def test_the_score_and_segment_refine_the_same_crops_into_the_same_masks(recipe_run, monkeypatch):
  """The chain's score (evaluate with the run's recipe) and experiments.segment with the photos'
  boxes: the one stage, the same masks, crop by crop."""
  seen = {"score": [], "segment": [], "alone": []}
  stage, who = postprocess.stage, ["score"]

  def recording(post, predict, crops, photos=None, trust=None):
    network, final, took = stage(post, predict, crops, photos, trust)
    seen[who[0]].extend(zip(np.asarray(crops, np.float32), final, took))
    return network, final, took
  monkeypatch.setattr(postprocess, "stage", recording)
  config = EvalConfig(run_dir=recipe_run["run"], prepared=recipe_run["prep"], split="train",
                      cases=0).validate().check_files()
  assert config.post == RECIPE
  result = evaluation.evaluate(config)
  assert result.out_dir.endswith("eval-train-" + RECIPE.tag())
  assert result.report["postprocess"] == RECIPE.to_dict()
  # "The network alone" is the network's masks (as averaged) before the CRF, the guided filter and
  # GrabCut: what the same run scores with the steps after it left out.
  who[0] = "alone"
  alone = EvalConfig(run_dir=recipe_run["run"], prepared=recipe_run["prep"], split="train", cases=0,
                     postprocess="none", post_flags=dict(flip_average=True, shift_average=2))
  alone = evaluation.evaluate(alone.validate().check_files()).report
  assert {k: v for k, v in alone.items() if k in result.report["network"]} == (
      result.report["network"])
  assert alone["fg_iou"] != result.report["fg_iou"]
  who[0] = "segment"
  records = [r for r in raw.read_cub(recipe_run["root"]) if r.is_train]
  listing = recipe_run["tmp"] / "train.txt"
  listing.write_text("".join(f"{r.image_path}\n" for r in records))
  boxes = recipe_run["tmp"] / "boxes.txt"
  boxes.write_text("".join(f"{r.image_path} {' '.join(map(str, r.box))}\n" for r in records))
  out = recipe_run["tmp"] / "seg"
  r = entry.call("experiments.segment", f"--run_dir={recipe_run['run']}", f"--images={listing}",
                 f"--boxes={boxes}", f"--out_dir={out}", "--noprogress").ok()
  assert r.out.startswith(f"post-processing: {RECIPE.describe()} [the run's recipe (")
  assert len(seen["score"]) == len(seen["segment"]) == len(records) == 2
  for (crop_a, mask_a, took_a), (crop_b, mask_b, took_b) in zip(seen["score"], seen["segment"]):
    np.testing.assert_allclose(crop_a, crop_b, atol=1e-6)
    np.testing.assert_allclose(mask_a, mask_b, atol=1e-5)
    assert took_a == took_b
  # Both say where the floor took GrabCut's cut: per_image.csv's column, segment's floor.txt.
  rows = (result.out_dir and open(os.path.join(result.out_dir, "per_image.csv")).read().split())
  assert rows[0] == "id,fg_iou,floor" and len(rows) == 3
  assert [r.endswith(",grabcut") for r in rows[1:]] == list(result.floor)
  assert result.report["floor_took_grabcut"] == int(result.floor.sum())
  listed = (out / "floor.txt").read_text().split()
  assert len(listed) == int(result.floor.sum()) and "the floor took GrabCut" in r.out
  # Both judged the same set by the same median colour-fit gap, and say so.
  gap, known = result.report["floor_median_gap"], result.report["floor_set_known"]
  assert known == (gap >= RECIPE.floor_trust)
  words = "knows" if known else "does not know"
  assert f"the network {words} these photos (median colour-fit gap {gap:+.3f})" in r.out


def test_the_api_gives_the_mask_the_cli_writes(recipe_run):
  record = [r for r in raw.read_cub(recipe_run["root"]) if r.is_train][0]
  out = recipe_run["tmp"] / "one"
  entry.call("experiments.segment", f"--run_dir={recipe_run['run']}",
             f"--images={record.image_path}", f"--out_dir={out}", "--noprogress").ok()
  written = np.asarray(Image.open(out / "masks" / (os.path.basename(record.image_path)[:-4]
                                                   + ".png")))
  seg = api.load(recipe_run["run"])
  assert seg.post == RECIPE and seg.post_source.startswith("the run's recipe")
  mask = seg.segment(record.image_path)
  assert mask.dtype == np.float32 and mask.shape == written.shape
  np.testing.assert_array_equal(segment_files.to_png_values(mask), written)
  # With a box: 0 outside it; without the recipe: the network alone, another mask.
  x, y, w, h = record.box
  boxed = seg.segment(record.image_path, box=record.box)
  assert boxed[:, :int(x)].max() == 0 and boxed[:int(y)].max() == 0
  plain = api.load(recipe_run["run"], postprocess="none").segment(record.image_path)
  assert np.abs(plain - mask).max() > 0.1


def test_export_runs_the_averaging_inside_and_writes_the_rest_beside(recipe_run):
  out = str(recipe_run["tmp"] / "export")
  kind, _, saved, _, post = export.export_run(recipe_run["run"], out)
  assert kind == "segmenter" and post == RECIPE
  assert postprocess.run_recipe(out) == RECIPE
  info = json.load(open(os.path.join(out, "export.json")))
  assert info["postprocess"]["inside_saved_model"] == "flip-averaged, shift-averaged (2 px)"
  assert "GrabCut" in info["postprocess"]["outside"]
  x = np.random.default_rng(1).uniform(size=(2, 64, 64, 3)).astype(np.float32)
  served = tf.saved_model.load(saved).signatures["serving_default"](images=tf.constant(x))["mask"]
  seg = api.load(recipe_run["run"], postprocess="none", flip_average=True, shift_average=2)
  np.testing.assert_allclose(served.numpy(), seg._predict(x), atol=1e-5)
  # An export with its recipe is ours to replace, recipe included. The replacement is another run's,
  # whose recipe averages nothing: the recipe and export.json are then the new run's, and its
  # SavedModel traces one pass of the network rather than the ten views of each averaged function.
  plain = str(recipe_run["tmp"] / "plain")
  make_teacher_run(plain, seed=4)
  after_network = dataclasses.replace(RECIPE, flip_average=False, shift_average=0)
  postprocess.write_recipe(plain, after_network)
  entry.call("experiments.export", f"--run_dir={plain}", f"--out_dir={out}", "--overwrite").ok()
  assert postprocess.run_recipe(out) == after_network
  info = json.load(open(os.path.join(out, "export.json")))
  assert info["run_dir"] == plain and info["postprocess"]["inside_saved_model"] == (
      "nothing (one pass of the network)")
