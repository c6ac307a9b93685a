"""Cuts one image of a homogeneous object cluster (HOC) into training patches.

  python -m data_prep.hoc_patches --image=skimage:coins --window=48 \
      --out=prepared/coins_patches.npz --hflip --vflip \
      [--backgrounds_out=prepared/coins_bg.npz --disk_radius=20]

Paper: window ~1.5x the width of the biggest instance, patches scaled to 64x64, horizontal/vertical
flips add copies. --image=skimage:<name> loads a scikit-image bundled sample (e.g. coins) offline.
Writes an .npz with `patches` uint8 [P,S,S,3]; optionally the disk backgrounds (a black disk of
--disk_radius px in the centre of every patch; --disk_radius=0 -> no disk, negative -> pure black).
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.string("image", None, "Image path, or skimage:<name> (e.g. skimage:coins).")
F.integer("window", None, "Window side in source pixels.")
F.integer("stride", None, "Grid stride in pixels (default window // 8, as experiments.hoc's).")
F.integer("out_size", 64, "Patch side after resizing.")
F.boolean("hflip", False, "Add left-right flipped copies.")
F.boolean("vflip", False, "Add up-down flipped copies.")
F.string("out", None, "Output .npz (patches).")
F.string("backgrounds_out", None, "Optional output .npz of disk backgrounds.")
F.float("disk_radius", 20.0, "Disk radius in pixels at --out_size; negative -> pure black "
        "backgrounds.")


def _main(F):
  if not F.image:
    raise FlagError("--image: required (a path or skimage:coins)")
  if F.window is None:
    raise FlagError("--window: required (px, ~1.5x the largest instance width)")
  cli.require(F, "out")
  from ind_prior_tf.data import pools  # pylint: disable=g-import-not-at-top
  made = pools.write_hoc_pools(F.image, F.window, F.out, stride=F.stride, out_size=F.out_size,
                               hflip=F.hflip, vflip=F.vflip, backgrounds_out=F.backgrounds_out,
                               disk_radius=F.disk_radius)
  h, w = made["image_shape"][:2]
  print(f"wrote {made['patches'].shape[0]} patches of {F.out_size}x{F.out_size} (window "
        f"{F.window}, stride {made['stride']}, image {w}x{h}) to {F.out}")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
