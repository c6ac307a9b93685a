"""Means of per-image scores (evaluate's or experiments.baseline's per_image.csv) over named halves of
a folder set, e.g. the dev and held-out halves fixed before any score was read:

  python tools/split_scores.py --prepared=prepared/cat2 --csv=runs/x/per_image.csv \
      --split=dev=/data/cat2/dev.txt --split=heldout=/data/cat2/heldout.txt

A list file holds one image name per line (its path relative to the folder, or its file name, with
or without extension). Prints one line per half: images, mean fg IoU, its standard error.
"""
import argparse
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def read_csv(path):
  with open(path) as f:
    return {int(r["id"]): float(r["fg_iou"]) for r in csv.DictReader(f)}


def names_by_id(prepared_dir):
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  index = prepared.raw_record_index(prepared_dir)
  return {i: os.path.splitext(os.path.basename(r.image_path))[0] for i, r in index.items()}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--prepared", required=True)
  p.add_argument("--csv", required=True, action="append")
  p.add_argument("--split", required=True, action="append", help="name=list file")
  args = p.parse_args(argv)
  names = names_by_id(args.prepared)
  halves = {}
  for spec in args.split:
    name, _, path = spec.partition("=")
    with open(path) as f:
      halves[name] = {os.path.splitext(os.path.basename(l.strip()))[0] for l in f if l.strip()}
  for path in args.csv:
    scores = read_csv(path)
    for half, members in halves.items():
      values = [v for i, v in scores.items() if names.get(i) in members]
      n = len(values)
      mean = sum(values) / n if n else float("nan")
      sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else float("nan")
      print(f"{path}\t{half}\t{n} images\tfg IoU {mean:.3f} (s.e. {sd / n ** 0.5:.3f})")


if __name__ == "__main__":
  main()
