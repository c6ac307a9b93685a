"""A user's ordinary mistakes, through every entry point: each is one `error:` line naming the flag or
file, exit status 2, no traceback, and nothing written or changed on disk (the walkthrough,
kept as a test). In process: most of these are answered before TensorFlow is imported."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from tests import entry
from tests.run_fixtures import make_teacher_run


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
  """Files a user might point at by mistake: a plain file, a HOC run, a segmenter run without a
  checkpoint, a prepared set with a bad meta.json, a pool that is not one, an empty folder."""
  root = tmp_path_factory.mktemp("sandbox")
  (root / "afile.txt").write_text("not a directory\n")
  hoc = root / "hoc_run"
  (hoc / "ckpt").mkdir(parents=True)
  (hoc / "flags.json").write_text(json.dumps(dict(z_dim=5, n_layers=6, image_size=64, width=0.25)))
  seg = root / "seg_run"
  (seg / "ckpt").mkdir(parents=True)
  (seg / "flags.json").write_text(json.dumps(dict(image_size=64, width=0.25, upsample="deconv")))
  bad = root / "bad_prep"
  bad.mkdir()
  (bad / "meta.json").write_text("{ not json")
  (root / "pool.npz").write_text("this is not an npz archive")
  (root / "empty").mkdir()
  (root / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
  return root


def snapshot(root):
  out = {}
  for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
      path = os.path.join(dirpath, name)
      st = os.lstat(path)
      out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
  return out


# The required flags, pointing at the sandbox, so that the value under test is what is wrong.
DISTILL = ["--teacher={s}/seg_run", "--prepared={s}/bad_prep", "--backgrounds={s}/pool.npz",
           "--logdir={s}/student"]
FGSEG = ["--prepared={s}/bad_prep", "--backgrounds={s}/pool.npz", "--logdir={s}/run"]
EVAL = ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep"]

# (entry point, arguments with {s} for the sandbox, what the error line must name)
CASES = [
    # Application 1: training
    ("experiments.fgseg", [], "--prepared"),
    ("experiments.fgseg", ["--prepared={s}/nope", "--backgrounds={s}/pool.npz"], "--prepared"),
    ("experiments.fgseg", ["--prepared={s}/bad_prep", "--backgrounds={s}/pool.npz"], "meta.json"),
    ("experiments.fgseg", ["--prepared={s}/bad_prep", "--backgrounds={s}/nope.npz"], "--backgrounds"),
    ("experiments.fgseg", FGSEG + ["--preset=nope"], "--preset"),
    ("experiments.fgseg", FGSEG + ["--steps=abc"], "--steps"),
    ("experiments.fgseg", FGSEG + ["--steps=0"], "--steps"),
    ("experiments.fgseg", FGSEG + ["--image_size=100"], "--image_size"),
    ("experiments.fgseg", FGSEG + ["--width=0"], "--width"),
    ("experiments.fgseg", FGSEG + ["--area_target=2"], "--area_target"),
    ("experiments.fgseg", FGSEG + ["--recolor=1.5"], "--recolor"),
    ("experiments.fgseg", FGSEG + ["--diffaug=colour"], "--diffaug"),
    ("experiments.fgseg", FGSEG + ["--nosuchflag=1"], "nosuchflag"),
    ("experiments.fgseg", FGSEG + ["stray"], "stray"),
    ("experiments.fgseg", FGSEG[:2] + ["--logdir={s}/afile.txt/x"], "--logdir"),
    ("experiments.fgseg", FGSEG + ["--init_from={s}/hoc_run"], "HOC run"),
    ("experiments.fgseg", FGSEG + ["--split=val"], "--split"),
    ("experiments.fgseg", FGSEG + ["--eval_count=0"], "--eval_count"),
    ("experiments.fgseg", FGSEG + ["--max_to_keep=0"], "--max_to_keep"),
    # distillation and its check
    ("experiments.distill", [], "--teacher"),
    ("experiments.distill", ["--teacher={s}/nope", "--prepared={s}/bad_prep",
                             "--backgrounds={s}/pool.npz", "--logdir={s}/student"], "--teacher"),
    ("experiments.distill", ["--teacher={s}/seg_run", "--teacher_checkpoint={s}/seg_run/ckpt/ckpt-9",
                             "--prepared={s}/bad_prep", "--backgrounds={s}/pool.npz",
                             "--logdir={s}/student"], "--teacher_checkpoint"),
    ("experiments.distill", ["--teacher={s}/seg_run", "--prepared={s}/bad_prep",
                             "--backgrounds={s}/pool.npz", "--logdir={s}/seg_run",
                             "--overwrite"], "--logdir"),
    ("experiments.distill", ["--teacher={s}/seg_run", "--prepared={s}/bad_prep",
                             "--backgrounds={s}/pool.npz", "--logdir={s}/afile.txt"], "--logdir"),
    ("experiments.distill", DISTILL + ["--label_keep=0"], "--label_keep"),
    ("experiments.distill", DISTILL + ["--lr=-1"], "--lr"),
    ("experiments.distill", DISTILL + ["--image_size=65"], "--image_size"),
    ("experiments.distill", DISTILL + ["--grabcut_iters=-1"], "--grabcut_iters"),
    ("experiments.distill", DISTILL + ["--preset=huge"], "--preset"),
    ("experiments.consistency", [], "--run_dir"),
    ("experiments.consistency", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep",
                                 "--max_drop=0.1"], "--max_drop"),
    ("experiments.consistency", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep",
                                 "--baseline={s}/nope"], "--baseline"),
    ("experiments.refine", ["--cycles=-1"], "--cycles"),
    ("experiments.refine", ["--refine_steps=abc"], "--refine_steps"),
    ("experiments.refine", ["--max_drop=xyz"], "--max_drop"),
    ("experiments.refine", ["--dataset=mnist"], "--dataset"),
    ("experiments.refine", ["--prepared={s}/nope", "--dry_run"], "--prepared="),
    # using a trained segmenter
    ("experiments.evaluate", [], "--run_dir"),
    ("experiments.evaluate", ["--run_dir={s}/nope", "--prepared={s}/bad_prep"], "nope"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep",
                              "--checkpoint={s}/nope/ckpt-1"], "--checkpoint"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep",
                              "--out_dir={s}/afile.txt/x"], "--out_dir"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep",
                              "--grabcut_sure=0.6"], "--grabcut_sure"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep", "--cases=-1"],
     "--cases"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep", "--batch_size=0"],
     "--batch_size"),
    ("experiments.evaluate", ["--run_dir={s}/seg_run", "--prepared={s}/bad_prep"], "meta.json"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--out_dir={s}/out"], "--images"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/nope", "--out_dir={s}/out"],
     "nope"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/empty", "--out_dir={s}/out",
                             "--threshold=1.5"], "--threshold"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/photo.jpg",
                             "--out_dir={s}/afile.txt/x"], "--out_dir"),
    ("experiments.segment", ["--run_dir={s}/hoc_run", "--images={s}/photo.jpg",
                             "--out_dir={s}/out"], "HOC"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/photo.jpg", "--out_dir={s}/out",
                             "--boxes={s}/nope.txt"], "nope.txt"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/photo.jpg", "--out_dir={s}/out",
                             "--image_root={s}/nope"], "--image_root"),
    ("experiments.segment", ["--run_dir={s}/seg_run", "--images={s}/photo.jpg", "--out_dir={s}/out",
                             "--grabcut_iters=-2"], "--grabcut_iters"),
    ("experiments.export", ["--run_dir={s}/seg_run"], "--out_dir"),
    ("experiments.export", ["--run_dir={s}/nope", "--out_dir={s}/exp"], "nope"),
    ("experiments.export", ["--run_dir={s}/hoc_run", "--out_dir={s}/exp", "--kind=segmenter"], "HOC"),
    ("experiments.export", ["--run_dir={s}/seg_run", "--out_dir={s}/exp", "--kind=bogus"], "--kind"),
    ("experiments.export", ["--run_dir={s}/seg_run", "--out_dir={s}/afile.txt/x"], "--out_dir"),
    # Application 2
    ("experiments.hoc", ["--preset=fruit"], "--image"),
    ("experiments.hoc", ["--preset=fruit", "--image={s}/nope.jpg", "--window=90"], "nope.jpg"),
    ("experiments.hoc", ["--disk_radius=100"], "--disk_radius"),
    ("experiments.hoc", ["--logdir={s}/afile.txt/x"], "--logdir"),
    ("experiments.hoc", ["--n_layers=0"], "--n_layers"),
    ("experiments.hoc", ["--image_every=-1"], "--image_every"),
    ("experiments.hoc", ["--preset=crowd", "--image={s}/photo.jpg", "--window=90"], "photo.jpg"),
    ("experiments.hoc_eval", [], "--logdir"),
    ("experiments.hoc_eval", ["--logdir={s}/seg_run"], "z_dim"),
    ("experiments.hoc_eval", ["--logdir={s}/hoc_run", "--area_range=abc"], "--area_range"),
    ("experiments.hoc_eval", ["--logdir={s}/hoc_run", "--samples=0"], "--samples"),
    # data preparation
    ("data_prep.cub", ["--cub_root={s}/nope", "--out_dir={s}/prep"], "nope"),
    ("data_prep.cub", ["--cub_root={s}/empty", "--out_dir={s}/prep"], "images.txt"),
    ("data_prep.cub", ["--cub_root={s}/empty", "--out_dir={s}/prep", "--size=0"], "--size"),
    ("data_prep.cub", ["--cub_root={s}/empty", "--out_dir={s}/afile.txt"], "afile.txt"),
    ("data_prep.cub", ["--cub_root={s}/bad_prep", "--out_dir={s}/bad_prep", "--overwrite"],
     "--cub_root="),
    ("data_prep.celeba", ["--celeba_root={s}/empty", "--out_dir={s}/empty/prep"], "--celeba_root="),
    ("data_prep.celeba", ["--celeba_root={s}/nope", "--out_dir={s}/prep"], "nope"),
    ("data_prep.backgrounds", ["--image_dir={s}/empty", "--out={s}/bg.npz"], "empty"),
    ("data_prep.backgrounds", ["--image_dir={s}/empty", "--inria_root={s}/empty",
                               "--out={s}/bg.npz"], "--inria_root"),
    ("data_prep.backgrounds", ["--source=outside_boxes", "--out={s}/bg.npz"], "--cub_root"),
    ("data_prep.hoc_patches", ["--image=skimage:coins", "--out={s}/p.npz"], "--window"),
    ("data_prep.hoc_patches", ["--image={s}/photo.jpg", "--window=30", "--out={s}/p.npz"], "photo.jpg"),
    ("data_prep.demo", ["--out_dir={s}/demo", "--count=0"], "--count"),
    ("data_prep.folder", ["--images={s}/nope", "--backgrounds={s}/empty", "--out_dir={s}/prep"],
     "nope"),
    ("data_prep.folder", ["--images={s}/empty", "--backgrounds={s}/empty", "--out_dir={s}/prep"],
     "empty"),
    ("data_prep.folder", ["--images={s}/empty", "--out_dir={s}/prep"], "--backgrounds"),
    ("experiments.bench", ["--apps=nope"], "--apps"),
]


@pytest.mark.parametrize("module, args, needle", CASES,
                         ids=[f"{m.split('.')[-1]}:{' '.join(a)[:40]}" for m, a, _ in CASES])
def test_a_mistake_is_one_error_line_and_writes_nothing(sandbox, module, args, needle):
  before = snapshot(sandbox)
  result = entry.call(module, *[a.format(s=sandbox) for a in args])
  line = result.failed(2, needle)
  assert " needs " in line or " and --" not in line, f"one flag per message: {line}"
  assert snapshot(sandbox) == before, f"{module} {args} wrote or changed files"


def test_the_walkthrough_covers_every_entry_point_and_sixty_mistakes():
  modules = {m for m, _, _ in CASES}
  assert len(CASES) >= 60
  assert {"experiments.fgseg", "experiments.distill", "experiments.evaluate", "experiments.segment",
          "experiments.export", "experiments.hoc", "experiments.hoc_eval", "experiments.consistency",
          "experiments.refine", "experiments.bench", "data_prep.cub", "data_prep.celeba",
          "data_prep.backgrounds", "data_prep.hoc_patches", "data_prep.demo",
          "data_prep.folder"} <= modules


# Nothing a user owns is deleted, overwritten or read back as input: each mistake below once deleted
# or replaced the user's files, or succeeded with a wrong result.


def photo(path, seed=0, size=(40, 30)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def photos(folder, names=("a.jpg", "b.jpg", "c.jpg")):
  for i, name in enumerate(names):
    photo(os.path.join(folder, name), seed=i)
  return str(folder)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
  """A segmenter run with a checkpoint (run_fixtures.make_teacher_run)."""
  run = tmp_path_factory.mktemp("seg") / "run"
  make_teacher_run(str(run))
  return str(run)


def prep_args(images, out, *more):
  return [f"--images={images}", f"--out_dir={out}", f"--backgrounds={images}", "--size=16",
          "--count=4", *more]


def test_prep_never_writes_over_or_inside_its_photos(tmp_path):
  folder = photos(tmp_path / "photos")
  before = snapshot(tmp_path)
  for out, more in [(folder, []), (folder, ["--overwrite"]), (f"{folder}/prep", ["--overwrite"]),
                    (tmp_path, ["--overwrite"])]:
    line = entry.call("data_prep.folder", *prep_args(folder, out, *more)).failed(
        2, f"--out_dir={out}", f"--images={folder}")
    assert "--overwrite does not change this" in line
  entry.call("data_prep.folder", *prep_args(folder, tmp_path / "p", f"--pool={folder}/bg.npz")
             ).failed(2, f"--pool={folder}/bg.npz", "lies inside --images")
  assert snapshot(tmp_path) == before
  # --overwrite replaces a prepared set, never a folder of the user's.
  mine = tmp_path / "mine"
  mine.mkdir()
  (mine / "notes.txt").write_text("mine")
  entry.call("data_prep.folder", *prep_args(folder, mine, "--overwrite")).failed(
      2, "did not write (notes.txt)")
  assert (mine / "notes.txt").read_text() == "mine"


def test_export_never_writes_over_or_inside_its_run_nor_a_users_folder(seg_run, tmp_path):
  before = snapshot(seg_run)
  for out in (seg_run, os.path.join(seg_run, "exported"), os.path.dirname(seg_run)):
    entry.call("experiments.export", f"--run_dir={seg_run}", f"--out_dir={out}",
               "--overwrite").failed(2, f"--out_dir={out}", f"--run_dir={seg_run}")
  assert snapshot(seg_run) == before
  mine = tmp_path / "mine"
  mine.mkdir()
  (mine / "notes.txt").write_text("mine")
  entry.call("experiments.export", f"--run_dir={seg_run}", f"--out_dir={mine}",
             "--overwrite").failed(2, "did not write (notes.txt)", "an earlier export")
  assert os.listdir(mine) == ["notes.txt"]


def segment(run, images, out, *more):
  return entry.call("experiments.segment", f"--run_dir={run}", f"--images={images}",
                    f"--out_dir={out}", "--noprogress", *more)


def test_segment_into_an_earlier_segmentation_needs_overwrite_and_replaces_only_it(seg_run, tmp_path):
  a = photos(tmp_path / "A", ("x.jpg",))
  b = str(tmp_path / "B")
  photo(os.path.join(b, "x.jpg"), seed=7, size=(50, 20))
  out = tmp_path / "out"
  segment(seg_run, a, out).ok()
  before = snapshot(out)
  segment(seg_run, b, out).failed(2, f"--out_dir={out}", "earlier segmentation", "--overwrite")
  assert snapshot(out) == before
  r = segment(seg_run, b, out, "--overwrite").ok()
  assert f"replacing the earlier segmentation in {out} (3 files removed" in r.out, r.out
  assert np.asarray(Image.open(out / "masks" / "x.png")).shape == (20, 50)  # B's photo
  # A folder of the user's that happens to hold masks/: --overwrite refuses it, untouched.
  mine = tmp_path / "mine"
  (mine / "masks").mkdir(parents=True)
  (mine / "masks" / "notes.txt").write_text("mine")
  segment(seg_run, b, mine, "--overwrite").failed(2, "its masks was not written")
  assert os.listdir(mine / "masks") == ["notes.txt"]


def test_segment_never_writes_inside_its_photos_nor_reads_its_own_outputs(seg_run, tmp_path):
  folder = photos(tmp_path / "photos")
  before = snapshot(tmp_path)
  for out in (folder, f"{folder}/segmented", f"{seg_run}"):
    segment(seg_run, folder, out).failed(2, f"--out_dir={out}")
  assert snapshot(tmp_path) == before
  # Outputs of an earlier segmentation that found their way into the photos' folder are not photos.
  segment(seg_run, folder, tmp_path / "q").ok()
  shutil.copytree(tmp_path / "q", os.path.join(folder, "q"))
  r = segment(seg_run, folder, tmp_path / "r").ok()
  assert "segmented 3 of 3 images" in r.out, r.out
  assert "left out q/cutouts/, q/masks/ (outputs of experiments.segment)" in r.out


def test_prep_does_not_read_the_masks_inside_the_photos_folder_as_photos(tmp_path):
  folder = photos(tmp_path / "photos", ("a.png", "b.png", "c.png"))
  os.makedirs(os.path.join(folder, "masks"))
  for name in ("a.png", "b.png", "c.png"):
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(os.path.join(folder, "masks", name))
  r = entry.call("data_prep.folder", *prep_args(folder, tmp_path / "prep",
                                                f"--masks={folder}/masks")).ok()
  assert "wrote 3 examples (3 train, 0 test, 3 with masks)" in r.out, r.out
  assert "left out masks/ (the --masks folder)" in r.out


def test_a_box_name_of_several_photos_or_of_none_is_an_error_naming_its_line(seg_run, tmp_path):
  folder = photos(tmp_path / "photos", ("a/dup.jpg", "b/dup.jpg", "c.jpg"))
  boxes = tmp_path / "boxes.csv"
  boxes.write_text("name,x,y,w,h\nc.jpg,1,1,20,20\ndup.jpg,2,2,10,10\n")
  args = prep_args(folder, tmp_path / "prep", f"--boxes={boxes}")
  entry.call("data_prep.folder", *args).failed(
      2, f"{boxes}:3", "'dup.jpg' is the name of 2 photos", "path relative to the folder (a/dup.jpg)")
  segment(seg_run, folder, tmp_path / "out", f"--boxes={boxes}").failed(
      2, f"{boxes}:3", "'dup.jpg' is the name of 2 images")
  boxes.write_text("name,x,y,w,h\nc.jpg,1,1,20,20\na/dup.jpg,2,2,10,10\ngone.jpg,1,1,5,5\n")
  entry.call("data_prep.folder", *args).failed(2, f"{boxes}:4", "'gone.jpg' is no photo of")
  assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "prep")
  boxes.write_text("name,x,y,w,h\nc.jpg,1,1,20,20\na/dup.jpg,2,2,10,10\n")
  assert "wrote 3 examples" in entry.call("data_prep.folder", *args).ok().out
  # Segmenting: a/dup.jpg's box is not b/dup.jpg's, which has none and is skipped.
  r = segment(seg_run, folder, tmp_path / "out", f"--boxes={boxes}").ok()
  assert "segmented 2 of 3 images" in r.out and "1 not in boxes file" in r.out, r.out


def test_list_lines_are_read_without_guessing(seg_run, tmp_path, monkeypatch):
  photo(str(tmp_path / "lists" / "2024 trip" / "t1.jpg"))
  listed = tmp_path / "lists" / "l.txt"
  listed.write_text("2024 trip/t1.jpg\n")
  r = segment(seg_run, listed, tmp_path / "out").ok()
  assert "segmented 1 of 1 images" in r.out
  photo(str(tmp_path / "lists" / "trip" / "t1.jpg"))  # now it is also id 2024's trip/t1.jpg
  segment(seg_run, listed, tmp_path / "out2").failed(2, f"{listed}:1", "image id 2024",
                                                     "write ./2024 trip/t1.jpg for the first")
  listed.write_text("./2024 trip/t1.jpg\n")  # the fix it names
  assert "segmented 1 of 1 images" in segment(seg_run, listed, tmp_path / "out2").ok().out
  # Paths relative to the working directory: the error says which --image_root finds them.
  photos(tmp_path / "photos", ("a.jpg", "b.jpg"))
  (tmp_path / "lists" / "cwd.txt").write_text("photos/a.jpg\nphotos/b.jpg\n")
  monkeypatch.chdir(tmp_path)
  segment(seg_run, tmp_path / "lists" / "cwd.txt", tmp_path / "out3").failed(
      2, "none of its 2 images is found", "--image_root=.")
  assert "segmented 2 of 2" in segment(seg_run, tmp_path / "lists" / "cwd.txt", tmp_path / "out3",
                                       "--image_root=.").ok().out


def test_a_second_training_of_a_run_is_refused_naming_the_pid(tmp_path):
  from tests import fgseg_fixtures as fx  # pylint: disable=import-outside-toplevel
  fx.prepare_cub(fx.make_cub(str(tmp_path / "cub"), n=4), tmp_path / "prep").ok()
  pool = fx.make_pool(str(tmp_path))
  run = tmp_path / "run"
  run.mkdir()
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  try:
    (run / ".ind-prior-tf.lock").write_text(f"{other.pid}\n")  # as the other training wrote it
    before = snapshot(run)
    for more in ([], ["--overwrite"]):
      r = entry.call("experiments.fgseg", f"--prepared={tmp_path / 'prep'}",
                     f"--backgrounds={pool}", "--preset=tiny", "--batch_size=2", "--steps=1",
                     f"--logdir={run}", "--noprogress", *more)
      r.failed(2, f"{run}: another training (pid {other.pid}) is writing this run")
      assert snapshot(run) == before
  finally:
    other.kill()
    other.wait()
  # Its holder killed: the lock is taken over, and said so.
  from ind_prior_tf.runtime import runlock  # pylint: disable=import-outside-toplevel
  lines = []
  runlock.acquire(str(run), log=lines.append)
  try:
    assert lines == [f"{run}: took over the lock of pid {other.pid}, which no longer runs"]
    assert (run / runlock.LOCK).read_text().split()[0] == str(os.getpid())
  finally:
    runlock.release_all()
  assert not (run / runlock.LOCK).exists()
