"""Builds the demo dataset from sample images shipped inside scikit-image: no download.

  python -m data_prep.demo --out_dir=prepared/demo_raw --count=400

Writes <out_dir>/cub/ (the CUB-200-2011 layout, for data_prep.cub) and <out_dir>/backgrounds/ (crops
of other photos, for data_prep.backgrounds); ind_prior_tf/data/demo.py says how the images are drawn.
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.string("out_dir", None, "Output directory (cub/ and backgrounds/ are written in it).")
F.integer("count", 400, "Number of images.")
F.integer("size", 160, "Side of the square images in pixels.")
F.integer("background_images", 60, "Number of background photos written.")
F.integer("seed", 0, "Random seed.")
F.boolean("overwrite", False, "Replace an existing non-empty --out_dir.")


def _main(F):
  cli.require(F, "out_dir")
  for name, least in (("count", 4), ("size", 32), ("background_images", 1)):
    if F[name].value < least:
      raise FlagError(f"--{name}={F[name].value}: must be >= {least}")
  from ind_prior_tf.data import demo  # pylint: disable=g-import-not-at-top
  made = demo.make_demo_set(F.out_dir, F.count, F.size, F.background_images, F.seed, F.overwrite)
  print(f"wrote {made['count']} demo images (CUB layout) to {made['cub']} and "
        f"{F.background_images} background photos to {made['backgrounds']}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
