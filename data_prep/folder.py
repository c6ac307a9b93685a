"""Prepares your own category from a folder of photos: box crops as a prepared set (as data_prep.cub
writes one) and a background pool beside it.

  python -m data_prep.folder --images=photos/ --boxes=boxes.csv --out_dir=prepared/mine
  python -m data_prep.folder --images=photos/ --backgrounds=landscapes/ --out_dir=prepared/mine

--images: a folder of photos of one category, subfolders included, any format Pillow reads, EXIF
orientation applied. --boxes (optional): CSV `name,x,y,w,h` (header optional) or CUB-style
`<name> x y w h` lines, names relative to the folder or file names; an image without a box is used
whole. --masks (optional): a folder of masks with the images' names (any extension), for scoring. All
images are in the train split. The background pool (<out_dir>_bg.npz, or --pool) comes from outside
the boxes, or from --backgrounds (required without --boxes). Broken links and unreadable files are
skipped, counted and listed in <out_dir>/skipped.txt. The work is ind_prior_tf/data/folder_prep.py's.
"""
import dataclasses
import sys

from ind_prior_tf import cli
from ind_prior_tf.data.folder_prep import FolderPrepConfig

F = cli.Flags(__doc__)
F.string("images", None, "Folder of photos of one category (subfolders included).")
F.string("boxes", None, "Optional boxes file: CSV `name,x,y,w,h` or `<name> x y w h` per line.")
F.string("masks", None, "Optional folder of masks named as the images (for scoring).")
F.string("out_dir", None, "Output directory of the prepared set.")
F.string("pool", None, "Output .npz of the background pool (default: <out_dir>_bg.npz).")
F.string("backgrounds", None,
         "Folder of photos without the object for the pool (default: patches from outside "
         "the boxes; required without --boxes).")
F.integer("size", 128, "Side of the square crops and patches in pixels.")
F.integer("count", 2000, "Number of background patches.")
F.integer("seed", 0, "Seed of the background patches.")
F.float("max_zoom", None,
        "Patches from outside the boxes magnified at most this many times more than their "
        "image's box crop (see data_prep.backgrounds; default: no limit).")
F.boolean("overwrite", False, "Replace an existing non-empty --out_dir and --pool.")


def _main(F):
  config = FolderPrepConfig(**{f.name: F[f.name].value
                               for f in dataclasses.fields(FolderPrepConfig)})
  config.validate().check_files()  # before the seconds-long TensorFlow import
  from ind_prior_tf.data import folder_prep  # pylint: disable=g-import-not-at-top
  result = folder_prep.prepare_folder(config, log=lambda line: print(line, flush=True))
  meta = result.meta
  print(f"wrote {meta['count']} examples ({meta['splits']['train']} train, "
        f"{meta['splits']['test']} test, {meta['mask_count']} with masks) to "
        f"{config.out_dir}; {meta['skipped_summary']}")
  print(f"wrote {result.patches} background patches of {config.size}x{config.size} from "
        f"{result.pool_source} to {result.pool}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
