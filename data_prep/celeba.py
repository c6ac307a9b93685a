"""Prepares CelebA (in-the-wild images + boxes) as a 128x128 prepared set.

  python -m data_prep.celeba --celeba_root=/data/celeba --out_dir=prepared/celeba \
      --size=128 [--max_images=5000]

Reads list_bbox_celeba.txt, img_celeba/ and optional list_eval_partition.txt; crops by box, resizes,
writes TFRecord shards + meta.json (see docs/data.md). No masks.
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.string("celeba_root", None, "CelebA root (list_bbox_celeba.txt, img_celeba/, optional "
         "list_eval_partition.txt).")
F.string("out_dir", None, "Output directory of the prepared set.")
F.integer("size", 128, "Side of the square crops in pixels.")
F.integer("max_images", None, "Only the first N listed images (quick subset).")
F.boolean("overwrite", False, "Replace an existing non-empty --out_dir.")


def _main(F):
  cli.require(F, "celeba_root", "out_dir")
  if F.size < 1:
    raise FlagError(f"--size={F.size}: must be >= 1")
  if F.max_images is not None and F.max_images < 1:
    raise FlagError(f"--max_images={F.max_images}: must be >= 1")
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  meta = prepared.prepare_celeba(F.celeba_root, F.out_dir, F.size, F.overwrite, F.max_images)
  print(f"wrote {meta['count']} examples ({meta['splits']['train']} train, "
        f"{meta['splits']['test']} test) to {F.out_dir}; {meta['skipped_summary']}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
