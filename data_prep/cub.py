"""Prepares CUB-200-2011 (or a set in its layout) as a 128x128 prepared set.

  python -m data_prep.cub --cub_root=/data/CUB_200_2011 --out_dir=prepared/cub --size=128

Crops every image by its box, resizes to --size, keeps masks from segmentations/ where present and
writes TFRecord shards + meta.json (see docs/data.md). Bad items are skipped, counted and listed in
skipped.txt.
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.string("cub_root", None, "CUB-200-2011 root (images.txt, bounding_boxes.txt, train_test_split.txt, "
         "images/, optional segmentations/).")
F.string("out_dir", None, "Output directory of the prepared set.")
F.integer("size", 128, "Side of the square crops in pixels.")
F.boolean("overwrite", False, "Replace an existing non-empty --out_dir.")
F.boolean("require_masks", False, "Skip images without a mask.")


def _main(F):
  cli.require(F, "cub_root", "out_dir")
  if F.size < 1:
    raise FlagError(f"--size={F.size}: must be >= 1")
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  meta = prepared.prepare_cub(F.cub_root, F.out_dir, F.size, F.overwrite, F.require_masks)
  print(f"wrote {meta['count']} examples ({meta['splits']['train']} train, "
        f"{meta['splits']['test']} test, {meta['mask_count']} with masks) to {F.out_dir}; "
        f"{meta['skipped_summary']}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
