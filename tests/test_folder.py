"""Your own category from a plain folder of photos data_prep.folder writes a prepared
set and a background pool from a folder with EXIF-rotated photos, a webp, a tif in a subfolder, a
broken link and a note; segmenting the same folder keeps its subfolders and counts what it skips."""
import os
import shutil
import subprocess

import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.data import boxes, images, prepared, raw
from ind_prior_tf.errors import DataError
from tests import entry
from tests.data_fixtures import BOX, H, W, make_photo_folder, rect_image, upright
from tests.run_fixtures import FakeRunner


def test_folder_reader_orients_boxes_masks_and_counts_skips(tmp_path):
  photos = make_photo_folder(tmp_path)
  recs = raw.read_folder(photos, str(tmp_path / "boxes.csv"), str(tmp_path / "masks"))
  assert [os.path.relpath(r.image_path, photos) for r in recs] == [
      "a.png", "b.jpg", "c.webp", os.path.join("sub", "d.tif"), os.path.join("sub", "e.gif")]
  assert [r.id for r in recs] == [1, 2, 4, 5, 6]  # ids by relative path, the broken link's (3) kept
  assert all(r.is_train for r in recs)
  assert recs.skipped.counts() == {"broken link": 1}
  by_name = {os.path.basename(r.image_path): r for r in recs}
  assert by_name["a.png"].box == BOX and by_name["d.tif"].box == BOX
  assert by_name["b.jpg"].box == (0, 0, W, H)  # no box: the whole image, as displayed
  assert by_name["a.png"].mask_path == str(tmp_path / "masks" / "a.png")
  assert by_name["d.tif"].mask_path == str(tmp_path / "masks" / "sub" / "d.png")
  assert by_name["c.webp"].mask_path is None
  # The EXIF-rotated photos decode upright, exactly (PNG) or nearly (JPEG).
  np.testing.assert_array_equal(images.load_image_rgb(by_name["a.png"].image_path), upright(1))
  b = images.load_image_rgb(by_name["b.jpg"].image_path)
  assert b.shape == (H, W, 3) and np.abs(b.astype(int) - upright(2)).mean() < 8
  # Nothing named in a boxes file is an image of the folder: one line saying so.
  (tmp_path / "wrong.txt").write_text("x.jpg 1 2 3 4\n")
  with pytest.raises(DataError, match="none of its 1 names is an image"):
    raw.read_folder(photos, str(tmp_path / "wrong.txt"))


def test_prep_entry_point_writes_the_set_and_the_pool(tmp_path):
  photos = make_photo_folder(tmp_path)
  out = tmp_path / "prep" / "mine"
  (tmp_path / "prep").mkdir()
  args = [f"--images={photos}", f"--boxes={tmp_path / 'boxes.csv'}", f"--masks={tmp_path / 'masks'}",
          f"--out_dir={out}", "--size=16", "--count=20"]
  r = entry.call("data_prep.folder", *args).ok()
  assert "wrote 5 examples (5 train, 0 test, 2 with masks)" in r.out, r.out
  assert "skipped 1 of 6 images: 1 broken link" in r.out
  assert "20 background patches of 16x16 from outside the boxes" in r.out
  meta = prepared.read_meta(str(out))
  assert meta["source"] == f"folder:{photos}" and meta["count"] == 5
  arrays = prepared.load_prepared_arrays(str(out))
  assert list(arrays["ids"]) == [1, 2, 4, 5, 6] and list(arrays["has_mask"]) == [
      True, False, False, True, False]
  # a.png's crop is the crop of the upright photo by its box, its mask the box: all foreground.
  want, _ = boxes.crop_box(upright(1), BOX, 16)
  np.testing.assert_array_equal(arrays["images"][0], want)
  assert arrays["masks"][0].min() == 1.0
  pool = np.load(str(out) + "_bg.npz")["patches"]
  assert pool.shape == (20, 16, 16, 3)
  assert "broken.jpg\tbroken link" in open(out / "skipped.txt").read()
  # Again: refused (nothing replaced) unless --overwrite; a bad flag is one line, nothing written.
  entry.call("data_prep.folder", *args).failed(2, "--overwrite")
  entry.call("data_prep.folder", *args, "--overwrite").ok()
  other = tmp_path / "prep" / "other"
  entry.call("data_prep.folder", f"--images={photos}", f"--out_dir={other}").failed(
      2, "--backgrounds: required without --boxes")
  entry.call("data_prep.folder", *args[:3], f"--out_dir={other}", "--size=0").failed(2, "--size=0")
  entry.call("data_prep.folder", f"--images={tmp_path / 'gone'}", f"--out_dir={other}",
             f"--backgrounds={photos}").failed(2, "--images=", "no such folder")
  assert not os.path.exists(other) and not os.path.exists(str(other) + "_bg.npz")


def test_prep_without_boxes_takes_the_pool_from_a_backgrounds_folder(tmp_path):
  photos = make_photo_folder(tmp_path)
  land = tmp_path / "land"
  land.mkdir()
  Image.fromarray(rect_image(50, 40, (0, 0, 1, 1), bg=(10, 90, 200))).save(land / "sky.webp")
  out = tmp_path / "mine"
  r = entry.call("data_prep.folder", f"--images={photos}", f"--backgrounds={land}",
                 f"--out_dir={out}", "--size=16", "--count=5").ok()
  assert "wrote 5 examples (5 train, 0 test, 0 with masks)" in r.out
  assert "from 1 photos in" in r.out
  arrays = prepared.load_prepared_arrays(str(out))
  # a.png without a box: the whole upright photo.
  np.testing.assert_array_equal(arrays["images"][0], boxes.resize_rgb(upright(1), 16))


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_targets_pass_the_folder_on(tmp_path):
  """folder-prep / folder-train / folder-segment, as `make -n` prints them (nothing runs)."""
  root = entry.ROOT

  def dry(*args):
    p = subprocess.run(["make", "-n", "-o", ".installed.stamp", *args], cwd=root,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr

  code, out = dry("folder-prep", "IMAGES=my photos/", "BOXES=b.csv", "PREP_DIR=p")
  assert code == 0 and "data_prep.folder" in out and '--images="my photos/"' in out, out
  assert '--boxes="b.csv"' in out and '--out_dir="p/folder"' in out and "--backgrounds" not in out
  code, out = dry("folder-prep", "IMAGES=x", "PREP_DIR=p", "BG_DIR=land")
  assert '--backgrounds="land"' in out, out
  code, out = dry("folder-train", "PREP_DIR=p", "RUNS=r")
  assert "experiments.fgseg" in out and '--prepared="p/folder"' in out, out
  assert '--backgrounds="p/folder_bg.npz"' in out and '--logdir="r/folder"' in out
  code, out = dry("folder-segment", "IMAGES=x", f"RUNS={tmp_path}")
  assert f'RUN_DIR="{tmp_path}/folder"' in out and "segment.sh" in out, out
  # The chain: on the prepared set, every path from it; once finished, folder-segment takes its
  # result (named in result.txt), with the boxes given.
  code, out = dry("folder-refine", "PREP_DIR=p", "RUNS=r", "REFINE_ARGS=--seed=3")
  assert code == 0 and "experiments.refine" in out and '--prepared="p/folder"' in out, out
  assert '--runs="r"' in out and "--seed=3" in out and "--dataset" not in out
  (tmp_path / "folder-refine").mkdir()
  (tmp_path / "folder-refine" / "result.txt").write_text("ensemble\n")
  code, out = dry("folder-segment", "IMAGES=x", "BOXES=b.csv", f"RUNS={tmp_path}",
                  "SEGMENT_ARGS=--threshold=0.5")
  assert f'RUN_DIR="{tmp_path}/folder-refine/ensemble"' in out, out
  assert 'BOXES="b.csv"' in out and "--threshold=0.5" in out
  code, out = dry("folder-segment", "IMAGES=x", f"RUNS={tmp_path}", "RUN_DIR=mine")
  assert 'RUN_DIR="mine"' in out
  # Each program its own flags; the old FOLDER_ARGS, which went to all three, is refused.
  code, out = dry("folder-train", "FOLDER_TRAIN_ARGS=--steps=7", "FOLDER_PREP_ARGS=--count=9")
  assert "--steps=7" in out and "--count=9" not in out
  code, out = dry("folder-prep", "IMAGES=x", "FOLDER_PREP_ARGS=--count=9")
  assert "--count=9" in out
  code, out = dry("folder-train", "FOLDER_ARGS=--steps=7")
  assert code != 0 and "FOLDER_TRAIN_ARGS" in out and "experiments.fgseg" not in out
  code, out = dry("folder-prep")
  assert "IMAGES=" in out


def test_a_folder_sets_raw_records_are_read_again_from_any_folder(tmp_path, monkeypatch):
  """GrabCut and the colour CRF on the photos (experiments.evaluate, distill --grabcut_iters) read a
  set's raw records through prepared.raw_record_index: for a folder set, the same ids, photos and
  boxes as at prep time, also from another working folder, and a folder that changed is refused."""
  make_photo_folder(tmp_path)
  monkeypatch.chdir(tmp_path)
  entry.call("data_prep.folder", "--images=photos", "--boxes=boxes.csv", "--masks=masks",
             "--out_dir=mine", "--size=16", "--count=5").ok()
  at_prep = raw.read_folder("photos", "boxes.csv", "masks")
  meta = prepared.read_meta("mine")
  assert meta["source"] == "folder:photos"  # as given
  assert meta["folder_boxes"] == str(tmp_path / "boxes.csv")
  assert meta["folder_images"] == str(tmp_path / "photos")
  ids = [int(i) for i in prepared.load_prepared_arrays("mine")["ids"]]
  (tmp_path / "elsewhere").mkdir()
  monkeypatch.chdir(tmp_path / "elsewhere")
  mine = str(tmp_path / "mine")
  index = prepared.raw_record_index(mine)
  assert sorted(index) == ids == [r.id for r in at_prep]
  for r in at_prep:
    again = index[r.id]
    assert os.path.samefile(again.image_path, tmp_path / r.image_path) and again.box == r.box
  by_name = {os.path.basename(r.image_path): r for r in index.values()}
  assert by_name["a.png"].box == BOX and by_name["d.tif"].box == BOX
  assert by_name["b.jpg"].box == (0, 0, W, H)  # no box: the whole photo
  assert [r.id for r in prepared.raw_records(mine, ids[::-1])] == ids[::-1]
  # The photos moved: the error names the folder and the flag; --raw_root finds them.
  os.rename(tmp_path / "photos", tmp_path / "moved")
  with pytest.raises(DataError, match=f"{tmp_path / 'photos'}: no such folder.*--raw_root"):
    prepared.raw_record_index(mine)
  assert sorted(prepared.raw_record_index(mine, str(tmp_path / "moved"))) == ids
  # A photo removed shifts the ids of the ones after it: refused, not paired wrongly.
  os.remove(tmp_path / "moved" / "c.webp")
  with pytest.raises(DataError, match="not those .* was prepared from"):
    prepared.raw_record_index(mine, str(tmp_path / "moved"))
  os.remove(tmp_path / "boxes.csv")
  with pytest.raises(DataError, match=f"{tmp_path / 'boxes.csv'}: no such file"):
    prepared.raw_record_index(mine, str(tmp_path / "moved"))


def test_the_refinement_chain_on_a_folder_set(tmp_path):
  """data_prep.folder, then experiments.refine --prepared=<set> alone: every stage's set, pool and
  run folder follow from the set, its raw photos are found through its meta.json (no --raw_root);
  the executor (stages faked) names the chain's result for make folder-segment."""
  from ind_prior_tf.refine import config as refine_config
  from ind_prior_tf.refine import run as refine_run
  photos = make_photo_folder(tmp_path)
  mine, runs = str(tmp_path / "prep" / "mine"), str(tmp_path / "runs")
  (tmp_path / "prep").mkdir()
  entry.call("data_prep.folder", f"--images={photos}", f"--boxes={tmp_path / 'boxes.csv'}",
             f"--masks={tmp_path / 'masks'}", f"--out_dir={mine}", "--size=16", "--count=5").ok()
  r = entry.call("experiments.refine", f"--prepared={mine}", f"--runs={runs}", "--dry_run").ok()
  stages = [line.split()[2:] for line in r.out.splitlines() if not line.startswith("#")]
  assert f"# writes {runs}/mine-refine/ensemble/postprocess.json: flip-averaged" in r.out
  flag = lambda argv, name: [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
  chain = f"{runs}/mine-refine"
  assert [flag(s, "logdir") for s in stages if s[0] != "experiments.consistency"][:-1] == [
      [f"{chain}/{n}"] for n in ("teacher", "student1", "refine1-gan", "refine1", "refine2-gan",
                                 "refine2", "refine3-gan", "refine3", "ensemble")]
  assert all(flag(s, "prepared") == [mine] for s in stages if s[0] != "experiments.ensemble")
  assert {b for s in stages for b in flag(s, "backgrounds")} == {mine + "_bg.npz"}
  assert not any(flag(s, "raw_root") for s in stages)
  assert stages[-1][:2] == ["experiments.evaluate", f"--run_dir={chain}/ensemble"]
  assert "--split=all" in stages[-1] and "--out_dir=" + f"{chain}/score" in stages[-1]
  # What the students' and the score's GrabCut will read: the photos, by the set's own ids.
  ids = prepared.load_prepared_arrays(mine)["ids"]
  assert [r.id for r in prepared.raw_records(mine, ids)] == list(ids)
  config = refine_config.for_prepared(mine, runs)
  result = refine_run.run(config, FakeRunner(), log=lambda line: None)
  assert result["result"] == f"{chain}/ensemble" and result["scores"] == dict(fg_iou=0.5, miou=0.6)
  assert open(f"{chain}/result.txt").read() == "ensemble\n"
