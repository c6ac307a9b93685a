"""Builds a background patch pool (.npz with `patches` uint8 [N,S,S,3]).

  python -m data_prep.backgrounds --image_dir=../shared/data/backgrounds \
      --out=prepared/bg_pool.npz --size=128 --count=2000 --seed=0
  python -m data_prep.backgrounds --inria_root=/data/INRIAPerson --out=prepared/inria_bg.npz
  python -m data_prep.backgrounds --source=outside_boxes --cub_root=/data/CUB \
      --out=prepared/bg_outside.npz

--source=folder: random square crops (side = uniform(--min_scale, --max_scale) x short side) of the
images in --image_dir, or, with --inria_root, of the INRIA Person archive's negatives (Train/neg and
Test/neg, any format Pillow reads): the paper's pool for CelebA.
--source=outside_boxes: patches of the --cub_root images taken outside their boxes (no foreground),
one of the two options the paper names; its experiments used other photos (crawled "landscape" and
"tree" images for CUB, INRIA Person negatives for CelebA).
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.enum("source", "folder", ["folder", "outside_boxes"], "Where patches come from.")
F.string("image_dir", None, "Folder of natural images (--source=folder).")
F.string("inria_root", None, "INRIA Person archive root (the INRIAPerson folder, or where it was "
         "extracted): patches of its Train/neg and Test/neg images, instead of --image_dir "
         "(--source=folder).")
F.string("cub_root", None, "CUB-layout root (--source=outside_boxes).")
F.string("out", None, "Output .npz file.")
F.integer("size", 128, "Patch side in pixels.")
F.integer("count", 2000, "Number of patches.")
F.integer("seed", 0, "Random seed.")
F.float("min_scale", 0.3, "Min crop side / short image side (--source=folder).")
F.float("max_scale", 1.0, "Max crop side / short image side (--source=folder).")
F.float("max_zoom", None, "Patches magnified at most this many times more than their image's box "
        "crop, so the pool is as sharp as the crops (--source=outside_boxes; default: no limit, "
        "any strip of >= size/4 px).")


def _main(F):
  cli.require(F, "out")
  folder = F.source == "folder"
  if F.inria_root and not folder:
    raise FlagError("--inria_root: only with --source=folder (the INRIA negatives hold no boxes)")
  if F.inria_root and F.image_dir:
    raise FlagError("--inria_root: give --image_dir or --inria_root, not both")
  if not (F.image_dir or F.inria_root if folder else F.cub_root):
    raise FlagError("--image_dir: required with --source=folder (or --inria_root)" if folder else
                    "--cub_root: required with --source=outside_boxes")
  from ind_prior_tf.data import pools  # pylint: disable=g-import-not-at-top
  patches, what = pools.write_background_pool(
      F.out, F.size, F.count, F.seed, image_dir=(F.image_dir or None) if folder else None,
      inria_root=(F.inria_root or None) if folder else None,
      cub_root=None if folder else F.cub_root, min_scale=F.min_scale, max_scale=F.max_scale,
      max_zoom=F.max_zoom)
  print(f"wrote {patches.shape[0]} patches of {F.size}x{F.size} from {what} to {F.out}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
