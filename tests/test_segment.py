"""Applying a segmenter to images of any size: masks go back to the right place of the original
image given a box, unreadable files are skipped while the others are written, CUB lists work."""
import os
import shutil
import subprocess

import keras
import numpy as np
from PIL import Image
import pytest

from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.apply import segment_files
from ind_prior_tf.data import boxes
from ind_prior_tf.errors import DataError, EmptyBoxError, FlagError
from ind_prior_tf.postprocess.stage import PostConfig
from tests import entry
from tests.data_fixtures import H, W, make_photo_folder, upright
from tests.run_fixtures import make_generator_run, make_teacher_run, ramp_model

S = 64


def red_channel_segmenter(size=S):
  """A fake segmenter with a known output: the mask is the red channel of its input."""
  inp = keras.Input((size, size, 3))
  return keras.Model(inp, keras.layers.Lambda(lambda x: x[..., :1])(inp))


def scene(h=150, w=200):
  """Black image; red inside the box's left half (x 60-99, y 40-99), and red outside the box."""
  image = np.zeros([h, w, 3], np.uint8)
  image[40:100, 60:100, 0] = 255
  image[0:20, 0:30, 0] = 255  # outside the box: must not appear in the mask
  return image


BOX = (60, 40, 80, 60)  # x, y, w, h: columns 60-139, rows 40-99


def test_mask_goes_back_to_the_box_in_the_original_image():
  image = scene()
  predict = segmenter.predictor(red_channel_segmenter())

  def segment_image(image, box):
    crop, region = segment_files.crop_for_segmenter(image, box, S)
    return segment_files.segment_batch(PostConfig(), predict, [image], [region], [crop])[0]

  mask = segment_image(image, BOX)
  assert mask.shape == (150, 200) and mask.dtype == np.float32
  assert np.all(mask[42:98, 62:97] > 0.99)     # red part of the box
  assert np.all(mask[42:98, 104:140] < 0.01)   # black part of the box
  assert np.all(mask[:40] == 0) and np.all(mask[100:] == 0)   # outside the box: exactly 0
  assert np.all(mask[:, :60] == 0) and np.all(mask[:, 140:] == 0)
  # Without a box the whole image is segmented, the red patch outside the box included.
  whole = segment_image(image, None)
  assert whole.shape == (150, 200) and np.all(whole[3:17, 3:27] > 0.9)


def test_boxes_follow_the_crop_convention_and_reject_empty_boxes():
  assert boxes.clip_box((10.5, 3, 5, 7.2), 100, 50) == (10, 3, 16, 11)
  assert boxes.clip_box((-5, -5, 20, 1000), 100, 50) == (0, 0, 15, 50)
  for bad in [(10, 10, 0, 5), (200, 10, 5, 5), (-20, 0, 10, 10)]:
    try:
      boxes.clip_box(bad, 100, 50)
      raise AssertionError(bad)
    except EmptyBoxError as e:
      assert "box" in str(e)
  # The crop the network sees is the one data preparation makes.
  image = np.random.RandomState(0).randint(0, 256, (50, 100, 3)).astype(np.uint8)
  crop, region = segment_files.crop_for_segmenter(image, (10.5, 3, 37, 29), S)
  want, _ = boxes.crop_box(image, (10.5, 3, 37, 29), S)
  np.testing.assert_array_equal(crop, want)
  assert region == (10, 3, 48, 32)


def write_images(folder):
  os.makedirs(folder, exist_ok=True)
  Image.fromarray(scene()).save(os.path.join(folder, "a.png"))
  Image.fromarray(scene(120, 160)).save(os.path.join(folder, "b.png"))
  with open(os.path.join(folder, "broken.jpg"), "wb") as f:
    f.write(os.urandom(300))


def test_unreadable_file_is_skipped_and_the_others_written(tmp_path):
  write_images(tmp_path / "img")
  items = segment_files.read_image_list(str(tmp_path / "img"))
  assert [rel for _, rel, _ in items] == ["a.png", "b.png", "broken.jpg"]
  out = str(tmp_path / "out")
  skipped, _ = segment_files.segment_files(red_channel_segmenter(), items, out, progress=False,
                                        batch_size=1)
  assert len(skipped) == 1 and skipped.counts() == {"unreadable": 1}
  for name, shape in [("a.png", (150, 200)), ("b.png", (120, 160))]:
    mask = np.asarray(Image.open(os.path.join(out, "masks", name)))
    cut = np.asarray(Image.open(os.path.join(out, "cutouts", name)))
    assert mask.shape == shape and mask.dtype == np.uint8
    assert cut.shape == shape + (4,)
    np.testing.assert_array_equal(cut[..., 3], mask)
    np.testing.assert_array_equal(cut[..., :3], scene(*shape))
  assert not os.path.exists(os.path.join(out, "masks", "broken.png"))
  assert "broken.jpg\tunreadable" in open(os.path.join(out, "skipped.txt")).read()


def test_cub_list_and_boxes_with_binary_masks(tmp_path):
  root = tmp_path / "cub"
  write_images(root / "images" / "001.Red")
  (root / "images.txt").write_text("1 001.Red/a.png\n2 001.Red/b.png\n3 001.Red/broken.jpg\n"
                                   "4 001.Red/missing.png\n")
  (root / "bounding_boxes.txt").write_text(f"1 {' '.join(map(str, BOX))}\n2 0 0 0 10\n"
                                           "3 0 0 5 5\n")
  items = segment_files.read_image_list(str(root / "images.txt"))
  assert items[0] == (1, "001.Red/a.png", str(root / "images" / "001.Red" / "a.png"))
  box_table = segment_files.read_boxes(str(root / "bounding_boxes.txt"))
  out = str(tmp_path / "out")
  skipped, _ = segment_files.segment_files(red_channel_segmenter(), items, out, boxes=box_table,
                                        threshold=0.5, progress=False)
  assert skipped.counts() == {"empty box": 1, "unreadable": 1, "not in boxes file": 1}
  mask = np.asarray(Image.open(os.path.join(out, "masks", "001.Red", "a.png")))
  assert set(np.unique(mask)) == {0, 255}
  assert mask[70, 80] == 255 and mask[70, 120] == 0 and mask[10, 10] == 0


def test_boxes_by_file_name_and_bad_lines(tmp_path):
  path = tmp_path / "boxes.txt"
  path.write_text("# name x y w h\nmy photo.jpg 1 2 3 4\n7 0 0 10 10\n")
  assert segment_files.read_boxes(str(path)) == {"my photo.jpg": (1, 2, 3, 4), 7: (0, 0, 10, 10)}
  path.write_text("a.jpg 1 2 x 4\n")
  try:
    segment_files.read_boxes(str(path))
    raise AssertionError("bad numbers accepted")
  except DataError as e:
    assert "boxes.txt:1" in str(e)


def test_entry_point(tmp_path):
  make_teacher_run(str(tmp_path / "run"))
  write_images(tmp_path / "img")
  args = [f"--run_dir={tmp_path / 'run'}", f"--images={tmp_path / 'img'}",
          f"--out_dir={tmp_path / 'out'}", "--noprogress", "--flip_average"]
  r = entry.call("experiments.segment", *args).ok()
  assert "segmented 2 of 3 images" in r.out and "broken.jpg" in r.err
  assert "Traceback" not in r.err
  assert np.asarray(Image.open(tmp_path / "out" / "masks" / "b.png")).shape == (120, 160)
  entry.call("experiments.segment", *args, f"--images={tmp_path / 'nothing'}").failed(2, "nothing")
  # Shift averaging reaches the network: other masks of the same size.
  entry.call("experiments.segment", *args, "--shift_average=4", f"--out_dir={tmp_path / 'sh'}").ok()
  plain, shifted = (np.asarray(Image.open(tmp_path / d / "masks" / "b.png")) for d in ("out", "sh"))
  assert plain.shape == shifted.shape and not np.array_equal(plain, shifted)
  entry.call("experiments.segment", *args, "--shift_average=-2").failed(2, "--shift_average=-2")
  entry.call("experiments.segment", *args, "--grabcut_iters=1", "--grabcut_sure=0.6").failed(
      2, "--grabcut_sure=0.6")
  # Nothing segmented: status 1.
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "x.jpg").write_bytes(os.urandom(100))
  r = entry.call("experiments.segment", *args, f"--images={tmp_path / 'junk'}",
                 f"--out_dir={tmp_path / 'out_junk'}")
  assert r.code == 1 and "segmented 0 of 1 images" in r.out, (r.out, r.err)


def test_images_that_share_a_name_get_a_mask_each(tmp_path):
  """a.jpg beside a.png: two masks (a.png, a.jpg.png), reported; no mask overwrites another."""
  assert segment_files.output_names(["a.png", "a.jpg", "b.jpg", "c.JPG", "c.jpeg", "sub/a.jpg",
                                     "d.png", "d.PNG", "e.bmp", "e.jpg"]) == [
                                         "a.png", "a.jpg.png", "b.png", "c.JPG.png", "c.jpeg.png",
                                         "sub/a.png", "d.png", "d-1.png", "e.bmp.png", "e.jpg.png"]
  make_teacher_run(str(tmp_path / "run"))
  folder = tmp_path / "img"
  folder.mkdir()
  Image.fromarray(scene()).save(folder / "a.png")
  Image.fromarray(scene(120, 160)).save(folder / "a.jpg")
  r = entry.call("experiments.segment", f"--run_dir={tmp_path / 'run'}", f"--images={folder}",
                 f"--out_dir={tmp_path / 'out'}", "--noprogress").ok()
  assert "segmented 2 of 2 images" in r.out and "a.jpg -> a.jpg.png" in r.out
  assert sorted(os.listdir(tmp_path / "out" / "masks")) == ["a.jpg.png", "a.png"]
  assert np.asarray(Image.open(tmp_path / "out" / "masks" / "a.png")).shape == (150, 200)
  assert np.asarray(Image.open(tmp_path / "out" / "masks" / "a.jpg.png")).shape == (120, 160)


def test_bad_runs_and_paths_are_one_line_errors_and_write_nothing(tmp_path):
  run = str(tmp_path / "run")
  make_teacher_run(run)
  hoc = str(tmp_path / "hoc")
  make_generator_run(hoc)
  write_images(tmp_path / "img")
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  out = tmp_path / "out"
  base = [f"--run_dir={run}", f"--images={tmp_path / 'img'}", f"--out_dir={out}", "--noprogress"]
  for extra, needles in [([f"--out_dir={a_file}/x"], ("--out_dir", "not a directory")),
                         (["--checkpoint=/nonexist/ckpt-1"], ("--checkpoint=/nonexist/ckpt-1",)),
                         ([f"--run_dir={hoc}"], ("HOC run", "not a segmenter")),
                         ([f"--run_dir={tmp_path}"], ("flags.json", "missing")),
                         (["--threshold=1"], ("--threshold=1",)),
                         (["--batch_size=0"], ("--batch_size=0",)),
                         ([f"--image_root={tmp_path / 'gone'}"], ("--image_root",)),
                         ([f"--boxes={tmp_path / 'gone.txt'}"], ("gone.txt",))]:
    entry.call("experiments.segment", *base, *extra).failed(2, *needles)
    assert not os.path.exists(out), extra
  entry.call("experiments.segment", *base[1:]).failed(2, "--run_dir: required")


def test_flip_averaged_predictor_is_the_mean_of_the_mask_and_its_mirrors():
  x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
  plain = segmenter.predictor(ramp_model(8))(x)
  np.testing.assert_allclose(plain[1, 2, :, 0], np.linspace(0, 1, 8), atol=1e-6)
  np.testing.assert_allclose(segmenter.predictor(ramp_model(8), flip_average=True)(x), 0.5, atol=1e-6)


def test_images_is_one_image_a_folder_a_pattern_or_a_list(tmp_path):
  """--images=one.jpg is one image (not a list of paths); a pattern, a folder with
  subfolders and a list file work too, and `what` says which."""
  write_images(tmp_path / "img")
  write_images(tmp_path / "img" / "sub")
  one = segment_files.read_image_list(str(tmp_path / "img" / "a.png"))
  assert list(one) == [("a.png", "a.png", str(tmp_path / "img" / "a.png"))]
  assert one.what == f"the image {tmp_path / 'img' / 'a.png'}"
  shutil.copy(tmp_path / "img" / "a.png", tmp_path / "no_extension")  # recognised by its header
  assert segment_files.read_image_list(str(tmp_path / "no_extension")).what.startswith("the image")
  folder = segment_files.read_image_list(str(tmp_path / "img"))
  assert [rel for _, rel, _ in folder] == ["a.png", "b.png", "broken.jpg", "sub/a.png", "sub/b.png",
                                           "sub/broken.jpg"]
  assert folder.what == f"the folder {tmp_path / 'img'} and 1 subfolder"
  pattern = segment_files.read_image_list(str(tmp_path / "img" / "**" / "a.png"))
  assert [rel for _, rel, _ in pattern] == ["a.png", "sub/a.png"]
  assert pattern.what.startswith("the pattern ")
  with pytest.raises(DataError, match="matches no images"):
    segment_files.read_image_list(str(tmp_path / "img" / "*.webp"))
  (tmp_path / "list.txt").write_text("img/a.png\nimg/sub/b.png\n")
  listed = segment_files.read_image_list(str(tmp_path / "list.txt"))
  assert [rel for _, rel, _ in listed] == ["img/a.png", "img/sub/b.png"]
  assert listed.what == f"the list file {tmp_path / 'list.txt'}"
  (tmp_path / "blob.bin").write_bytes(b"\x00\x01binary" * 20)
  with pytest.raises(DataError, match="neither an image Pillow reads nor a text list"):
    segment_files.read_image_list(str(tmp_path / "blob.bin"))
  make_teacher_run(str(tmp_path / "run"))
  r = entry.call("experiments.segment", f"--run_dir={tmp_path / 'run'}", "--noprogress",
                 f"--images={tmp_path / 'img' / 'b.png'}", f"--out_dir={tmp_path / 'out'}").ok()
  assert f"segmenting 1 image (the image {tmp_path / 'img' / 'b.png'})" in r.out
  assert "segmented 1 of 1 images" in r.out
  assert os.listdir(tmp_path / "out" / "masks") == ["b.png"]


def test_a_folder_of_phone_photos(tmp_path):
  """webp, tif, gif and subfolders are segmented (outputs keep the subfolders),
  EXIF-rotated photos come out upright, a broken link and a note are counted, not dropped silently."""
  photos = make_photo_folder(tmp_path)
  make_teacher_run(str(tmp_path / "run"))
  out = tmp_path / "out"
  r = entry.call("experiments.segment", f"--run_dir={tmp_path / 'run'}", f"--images={photos}",
                 f"--out_dir={out}", "--noprogress").ok()
  assert (f"segmenting 6 images (the folder {photos} and 1 subfolder; ignored 1 other file: "
          "notes.txt)") in r.out, r.out
  assert "segmented 5 of 6 images" in r.out and "1 broken link" in r.out
  assert "broken.jpg\tbroken link" in open(out / "skipped.txt").read()
  names = sorted(os.path.relpath(os.path.join(d, f), out / "masks")
                 for d, _, fs in os.walk(out / "masks") for f in fs)
  assert names == ["a.png", "b.png", "c.png", "sub/d.png", "sub/e.png"]
  for name in names:  # every mask and cut-out upright: 40 wide, 30 high
    assert np.asarray(Image.open(out / "masks" / name)).shape == (H, W)
  cut = np.asarray(Image.open(out / "cutouts" / "a.png"))
  np.testing.assert_array_equal(cut[..., :3], upright(1))


def test_without_run_dir_the_newest_segmenter_run_is_used(tmp_path):
  """`make segment` after `make demo` finds runs/demo; HOC runs, runs without a
  checkpoint and other folders are passed over; nested runs (refinement chains) are found."""
  runs = tmp_path / "runs"
  make_teacher_run(str(runs / "old"))
  make_teacher_run(str(runs / "chain" / "student"))
  make_generator_run(str(runs / "hoc"))
  (runs / "nockpt" / "ckpt").mkdir(parents=True)
  (runs / "nockpt" / "flags.json").write_text("{}")
  for age, run in enumerate(["chain/student", "old", "hoc", "nockpt"]):
    index = runs / run / "ckpt" / "checkpoint"
    if index.exists():
      os.utime(index, (1e9 + 100 * age, 1e9 + 100 * age))
  assert apply_config.newest_segmenter_run(str(runs)) == str(runs / "old")
  os.utime(runs / "chain" / "student" / "ckpt" / "checkpoint", (2e9, 2e9))
  assert apply_config.newest_segmenter_run(str(runs)) == str(runs / "chain" / "student")
  with pytest.raises(FlagError, match="no segmenter run in it"):
    apply_config.newest_segmenter_run(str(runs / "hoc"))
  write_images(tmp_path / "img")
  r = entry.call("experiments.segment", f"--runs={runs}", f"--images={tmp_path / 'img'}",
                 f"--out_dir={tmp_path / 'out'}", "--noprogress").ok()
  assert r.out.startswith(f"--run_dir={runs / 'chain' / 'student'}: the newest segmenter run in ")
  entry.call("experiments.segment", f"--runs={tmp_path / 'gone'}", f"--images={tmp_path / 'img'}",
             f"--out_dir={tmp_path / 'out2'}").failed(2, "--runs=", "no such folder of runs")
  assert not os.path.exists(tmp_path / "out2")
  # make segment: RUN_DIR when given, else --runs=$RUNS (what the script runs, with PYTHON=echo).
  script = os.path.join(entry.ROOT, "experiments", "segment.sh")
  env = dict(os.environ, PYTHON="echo", RUNS="myruns", IMAGES="p/*.jpg")
  env.pop("RUN_DIR", None)
  line = subprocess.run(["bash", script], env=env, capture_output=True, text=True).stdout
  assert line.split() == ["-m", "experiments.segment", "--runs=myruns", "--images=p/*.jpg",
                          "--out_dir=segmented"], line
  line = subprocess.run(["bash", script], env=dict(env, RUN_DIR="runs/x"), capture_output=True,
                        text=True).stdout
  assert "--run_dir=runs/x" in line and "--runs" not in line
