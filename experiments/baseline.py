"""Scores the zero-training baselines on a prepared set's masks, as experiments.evaluate scores a run:
GrabCut from the same boxes (OpenCV, the box as its rectangle on the whole photo) or the whole box.

  python -m experiments.baseline --prepared=prepared/horse --split=train --out_dir=runs/baseline-horse

Every results table puts GrabCut from the same boxes beside the project's number: it is what a user
gets without training. Writes <out_dir>/scores.json and per_image.csv (id,fg_iou), as evaluate
does, so the two compare image by image. The raw photos come from the directory the prepared set's
meta.json names, or --raw_root. The work is ind_prior_tf/apply/baselines.py's.
"""
import json
import os
import sys

from ind_prior_tf import choices, cli
from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import rundir

F = cli.Flags(__doc__)
F.string("prepared", None, "Prepared set with masks (meta.json + TFRecord shards).")
F.enum("split", "all", choices.SPLITS, "Images to score (only those with a mask count).")
F.enum("method", "grabcut", ["grabcut", "box"], "grabcut: GrabCut from the box; box: the whole box.")
F.integer("grabcut_iters", 5, "GrabCut's iterations.")
F.string("raw_root", None, "The raw set the prepared one was made from (default: its meta.json's).")
F.string("out_dir", None, "Where scores.json and per_image.csv go.")


def _main(F):
  cli.require(F, "prepared", "out_dir")
  if F.grabcut_iters < 1:
    raise FlagError(f"--grabcut_iters={F.grabcut_iters}: must be >= 1")
  if not os.path.isfile(os.path.join(F.prepared, "meta.json")):
    raise FlagError(f"--prepared={F.prepared}: no meta.json; not a prepared set")
  rundir.check_writable_dir(F.out_dir)
  from ind_prior_tf.apply import baselines  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  if F.method == "grabcut":
    try:
      prepared.raw_record_index(F.prepared, F.raw_root)
    except ValueError as e:
      raise FlagError(f"--raw_root: {e}") from None
  report, ids, ious = baselines.score(F.prepared, F.split, F.method, F.grabcut_iters, F.raw_root)
  report.update(prepared=os.path.abspath(F.prepared))
  os.makedirs(F.out_dir, exist_ok=True)
  path = os.path.join(F.out_dir, "scores.json")
  rundir.atomic_write_text(path, json.dumps(report, indent=2) + "\n")
  rundir.atomic_write_text(os.path.join(F.out_dir, "per_image.csv"), "id,fg_iou\n" + "".join(
      f"{i},{v:.4f}\n" for i, v in zip(ids, ious)))
  name = "GrabCut from the boxes" if F.method == "grabcut" else "the whole box"
  print(f"{name} on {report['images']} masked crops of {F.prepared} [{F.split}]: fg IoU "
        f"{report['fg_iou']:.3f}  mIoU {report['miou']:.3f}  pixel acc {report['pixel_acc']:.3f}")
  print(f"wrote {path}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
