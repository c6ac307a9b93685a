"""A user's ordinary mistakes, through every entry point: each is one `error:` line naming the flag or
file, exit status 2, no traceback, and nothing written or changed on disk (issue 19's walkthrough,
kept as a test). In process: most of these are answered before TensorFlow is imported."""
import json
import os

import pytest

from tests import entry


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
