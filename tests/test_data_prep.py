"""End-to-end tests of the data_prep entry points, called in this process (tests/entry.py)."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from ind_prior_tf.data import images, pools, prepared
from tests import entry
from tests.data_fixtures import RED, make_celeba, make_cub, make_inria


def run(module, *args):
  r = entry.call(module, *args)
  return r.code, r.out, r.err


def assert_one_line_error(rc, err, *fragments):
  assert rc == 2, err
  assert "Traceback" not in err, err
  lines = err.strip().splitlines()
  assert len(lines) == 1, err  # Nothing else is printed before it fails.
  assert lines[0].startswith("error: "), err
  for f in fragments:
    assert f in lines[0], (f, err)


def test_cub_entry_point(tmp_path):
  root = make_cub(tmp_path / "cub")
  out = str(tmp_path / "prep")
  rc, stdout, err = run("data_prep.cub", f"--cub_root={root}",
                        f"--out_dir={out}", "--size=16")
  assert rc == 0, err
  assert "Traceback" not in err
  assert "wrote 6 examples (5 train, 1 test, 2 with masks)" in stdout
  assert "skipped 5 of 11 images: 2 unreadable, 2 empty box" in stdout + err
  meta = json.load(open(os.path.join(out, "meta.json")))
  assert meta["count"] == 6 and meta["size"] == 16 and meta["has_masks"]
  assert meta["source"] == f"cub:{root}"
  assert len(open(os.path.join(out, "skipped.txt")).readlines()) == 5
  arr = prepared.load_prepared_arrays(out, only_with_masks=True)
  assert sorted(arr["ids"].tolist()) == [1, 2]

  # Refusal to overwrite: one line, exit 2, output intact.
  before = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
  rc, _, err = run("data_prep.cub", f"--cub_root={root}", f"--out_dir={out}",
                   "--size=8")
  assert_one_line_error(rc, err, out, "not empty", "--overwrite")
  after = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
  assert before == after
  rc, _, err = run("data_prep.cub", f"--cub_root={root}", f"--out_dir={out}",
                   "--size=8", "--overwrite")
  assert rc == 0, err
  assert prepared.read_meta(out)["size"] == 8
  assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p or ".old-" in p]


@pytest.mark.parametrize("missing", ["images.txt", "bounding_boxes.txt"])
def test_cub_entry_point_bad_layout(tmp_path, missing):
  root = make_cub(tmp_path / "cub")
  os.remove(os.path.join(root, missing))
  out = tmp_path / "prep"
  rc, stdout, err = run("data_prep.cub", f"--cub_root={root}",
                        f"--out_dir={out}")
  assert_one_line_error(rc, err, os.path.join(root, missing), "missing")
  assert stdout == "" and not out.exists()
  assert os.listdir(tmp_path) == ["cub"]


def test_entry_point_missing_flag(tmp_path):
  rc, _, err = run("data_prep.cub", f'--out_dir={tmp_path / "x"}')
  assert_one_line_error(rc, err, "--cub_root")
  (tmp_path / "celeba").mkdir()  # beside the output: an --out_dir inside it is refused first
  rc, _, err = run("data_prep.celeba", f'--celeba_root={tmp_path / "celeba"}',
                   f'--out_dir={tmp_path / "x"}')
  assert_one_line_error(rc, err, "list_bbox_celeba.txt: missing")


def test_cub_entry_point_all_bad(tmp_path):
  root = make_cub(tmp_path / "cub")
  for rel in ("001.A/rgb.jpg", "001.A/gray.jpg", "001.A/cmyk.jpg",
              "002.B/wide.png", "002.B/rgba.png", "002.B/border.jpg"):
    with open(os.path.join(root, "images", rel), "wb") as f:
      f.write(b"junk")
  rc, _, err = run("data_prep.cub", f"--cub_root={root}",
                   f'--out_dir={tmp_path / "prep"}', "--size=8")
  assert rc == 2 and "Traceback" not in err
  assert err.strip().splitlines()[-1].startswith("error: ")
  assert "no usable examples" in err and "8 unreadable" in err
  assert sorted(os.listdir(tmp_path)) == ["cub"]


def test_celeba_entry_point(tmp_path):
  root = make_celeba(tmp_path / "celeba", n=5)
  out = str(tmp_path / "prep")
  rc, stdout, err = run("data_prep.celeba", f"--celeba_root={root}",
                        f"--out_dir={out}", "--size=16", "--max_images=3")
  assert rc == 0, err
  assert "wrote 3 examples (3 train, 0 test)" in stdout
  arr = prepared.load_prepared_arrays(out)
  assert sorted(arr["ids"].tolist()) == [1, 2, 3]
  assert np.abs(arr["images"].astype(int) - RED).max() <= 25


def test_backgrounds_entry_point(tmp_path):
  folder = tmp_path / "bg"
  folder.mkdir()
  rng = np.random.default_rng(0)
  from PIL import Image
  for i in range(2):
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(
        folder / f"{i}.PNG")
  (folder / "bad.jpg").write_bytes(b"nope")
  out = str(tmp_path / "pool.npz")
  rc, stdout, err = run("data_prep.backgrounds", f"--image_dir={folder}",
                        f"--out={out}", "--size=8", "--count=10", "--seed=1")
  assert rc == 0, err
  assert "wrote 10 patches of 8x8" in stdout
  pool = pools.load_pool(out)
  assert pool.shape == (10, 8, 8, 3) and pool.dtype == np.uint8
  assert np.array_equal(pool, pools.background_patches(images.list_images(folder), 8, 10,
                                                   seed=1))
  root = make_cub(tmp_path / "cub")
  rc, stdout, err = run("data_prep.backgrounds", "--source=outside_boxes",
                        f"--cub_root={root}", f"--out={out}", "--size=8",
                        "--count=6")
  assert rc == 0, err
  assert pools.load_pool(out).shape == (6, 8, 8, 3)
  (tmp_path / "empty").mkdir()
  rc, _, err = run("data_prep.backgrounds", f'--image_dir={tmp_path / "empty"}',
                   f"--out={out}")
  assert_one_line_error(rc, err, str(tmp_path / "empty"), "no images")


def test_backgrounds_entry_point_inria(tmp_path):
  root = tmp_path / "INRIAPerson"
  negs = make_inria(str(root))
  out = str(tmp_path / "inria.npz")
  rc, stdout, err = run("data_prep.backgrounds", f"--inria_root={root}", f"--out={out}",
                        "--size=8", "--count=12", "--seed=3")
  assert rc == 0, err
  assert f"wrote 12 patches of 8x8 from 8 INRIA Person negatives in {root} to {out}" in stdout
  assert np.array_equal(pools.load_pool(out), pools.background_patches(negs, 8, 12, seed=3))
  os.remove(out)
  rc, _, err = run("data_prep.backgrounds", f"--inria_root={root}", f"--image_dir={root}",
                   f"--out={out}")
  assert_one_line_error(rc, err, "--inria_root", "not both")
  rc, _, err = run("data_prep.backgrounds", "--source=outside_boxes", f"--inria_root={root}",
                   f"--out={out}")
  assert_one_line_error(rc, err, "--inria_root", "--source=folder")
  rc, _, err = run("data_prep.backgrounds", f"--inria_root={tmp_path}/none", f"--out={out}")
  assert_one_line_error(rc, err, "none: missing INRIA Person root")
  rc, _, err = run("data_prep.backgrounds", f"--inria_root={root}/Train", f"--out={out}")
  assert_one_line_error(rc, err, "not the INRIA Person layout")
  assert not os.path.exists(out)


def _fake_python(tmp_path):
  """A PYTHON for the make scripts that only logs its arguments, one line per call."""
  log = tmp_path / "calls.log"
  fake = tmp_path / "fake_python"
  fake.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
  fake.chmod(0o755)
  return str(fake), log


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_celeba_prep_pool_is_inria_when_given(tmp_path):
  fake, log = _fake_python(tmp_path)
  env = {k: v for k, v in os.environ.items() if k not in ("INRIA_ROOT", "BG_DIR")}
  env.update(PYTHON=fake, PREP_DIR=str(tmp_path / "p"), CELEBA_ROOT="c")

  def prep(**extra):
    log.write_text("")
    p = subprocess.run(["bash", "experiments/celeba_prep.sh"], cwd=entry.ROOT, text=True,
                       capture_output=True, env=dict(env, **extra), timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout, log.read_text().splitlines()

  out, calls = prep(INRIA_ROOT="/data/INRIAPerson")
  assert "INRIA Person negatives in /data/INRIAPerson" in out, out
  assert calls[0].startswith("-m data_prep.celeba --celeba_root=c ")
  assert calls[1] == (f"-m data_prep.backgrounds --inria_root=/data/INRIAPerson "
                      f"--out={tmp_path}/p/celeba_bg.npz --size=128 --count=4000 --seed=0")
  out, calls = prep(BG_DIR="walls")
  assert "BG_DIR=walls, not the paper's INRIA Person negatives" in out, out
  assert calls[1] == (f"-m data_prep.backgrounds --image_dir=walls "
                      f"--out={tmp_path}/p/celeba_bg.npz --size=128 --count=4000 --seed=0")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_inria_pool(tmp_path):
  """make inria-pool, as `make -n` prints it (nothing runs), and its missing INRIA_ROOT."""
  def make(*args, dry=True):
    p = subprocess.run(["make", *(["-n"] if dry else []), "-o", ".installed.stamp", *args],
                       cwd=entry.ROOT, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr

  code, out = make("inria-pool", "INRIA_ROOT=/data/INRIA Person", "PREP_DIR=p")
  assert code == 0, out
  assert 'data_prep.backgrounds --inria_root="/data/INRIA Person" --out="p/inria_bg.npz"' in out
  code, out = make("inria-pool", "INRIA_ROOT=", dry=False)
  assert code != 0 and "error: INRIA_ROOT=" in out, out


def test_hoc_entry_point(tmp_path):
  out = str(tmp_path / "coins.npz")
  bg = str(tmp_path / "coins_bg.npz")
  # coins is 303x384: rows 0..240 step 48 (6) + border 255 -> 7;
  # cols 0..336 step 48 (8), exact fit -> 8; x4 with both flips.
  rc, stdout, err = run("data_prep.hoc_patches", "--image=skimage:coins",
                        "--window=48", "--stride=48", "--out_size=16",
                        "--hflip", "--vflip", f"--out={out}",
                        f"--backgrounds_out={bg}", "--disk_radius=4")
  assert rc == 0, err
  assert "wrote 224 patches of 16x16" in stdout
  patches = pools.load_pool(out)
  assert patches.shape == (224, 16, 16, 3)
  assert np.array_equal(patches[..., 0], patches[..., 1])  # Gray -> 3 channels.
  backgrounds = pools.load_pool(bg)
  assert (backgrounds[:, 7:9, 7:9] == 0).all()
  assert np.array_equal(backgrounds[:, 0, 0], patches[:, 0, 0])
  rc, _, err = run("data_prep.hoc_patches", "--image=skimage:coins",
                   "--window=500", f"--out={out}")
  assert_one_line_error(rc, err, "--window=500", "384x303")
  rc, _, err = run("data_prep.hoc_patches", f'--image={tmp_path / "no.png"}',
                   "--window=8", f"--out={out}")
  assert_one_line_error(rc, err, "no.png: missing image file")
