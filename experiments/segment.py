"""Apply a trained segmenter (a teacher or a distilled student) to your own images.

  python -m experiments.segment --run_dir=runs/horse-distill --images=photos/ --out_dir=masks
  python -m experiments.segment --runs=runs --images='photos/*.webp' --out_dir=masks
  python -m experiments.segment --run_dir=runs/cub --images=$CUB/images.txt \
      --boxes=$CUB/bounding_boxes.txt --out_dir=out/cub

--images is one image, a folder (with its subfolders), a glob pattern (quoted) or a list file (`<path>`
or CUB's `<image_id> <path>` per line): any format Pillow reads, EXIF orientation applied. With --boxes
(`<key> x y w h` per line, key an image id of the list or an image's listed path or file name; or CSV
`name,x,y,w,h`) each image is cropped by its box, as in training, and its mask is mapped back to the
box's place in the original image (0 outside). Writes <out_dir>/masks/<name>.png (8-bit masks) and
<out_dir>/cutouts/<name>.png (RGBA, alpha = mask) at each image's original resolution; two images that
would share a name (a.jpg beside a.png) keep their extension (a.jpg.png). Unreadable images are
reported, skipped and listed in <out_dir>/skipped.txt, as are broken links. The masks go through the
run's own post-processing (its postprocess.json, which a refinement chain's result carries: flips,
shifts, the colour CRF, the guided filter, GrabCut; --postprocess=none: the network's masks), and
the first line says which. The work is ind_prior_tf/apply/segment_files.py's.
"""
import dataclasses
import os
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply.config import SegmentConfig
from ind_prior_tf.postprocess.stage import PostConfig

F = cli.Flags(__doc__)
# Every flag is a field of SegmentConfig or (cli.define_postprocess_flags) of PostConfig, its default
# and help written there once.
knobs.define_config_flags(F, SegmentConfig)
cli.define_postprocess_flags(F, PostConfig)


def _main(F):
  config = SegmentConfig(**{f.name: F[f.name].value for f in dataclasses.fields(SegmentConfig)
                            if f.name in F.values}, post_flags=cli.post_flags(F, PostConfig))
  config.validate().check_files()  # before the seconds-long TensorFlow import
  if not F.run_dir:
    print(f"--run_dir={config.run_dir}: the newest segmenter run in {config.runs}", flush=True)
  print(apply_config.post_line(config.post, config.post_source), flush=True)
  if config.post.needs_photos and not config.boxes:
    print("no --boxes: each photo is its own box, so GrabCut and the CRF on the photo see no "
          "ground outside it and draw their background model from the photo's edges alone",
          flush=True)
  from ind_prior_tf.apply import segment_files  # pylint: disable=g-import-not-at-top
  result = segment_files.segment_run(config, log=lambda line: print(line, flush=True))
  if result.renamed:
    shown = ", ".join(f"{rel} -> {name}" for rel, name in result.renamed[:3])
    more = f" and {len(result.renamed) - 3} more" if len(result.renamed) > 3 else ""
    print(f"images that share a name keep their extension: {shown}{more}")
  out = config.out_dir
  print(f"segmented {result.done} of {result.listed} images -> {out}/masks, {out}/cutouts; "
        f"{result.skipped.summary()}"
        + (f" (listed in {os.path.join(out, 'skipped.txt')})" if len(result.skipped) else ""))
  if result.floor is not None:
    judged = ("" if result.floor_gap is None else
              f"; the network {'knows' if result.floor_known else 'does not know'} these photos "
              f"(median colour-fit gap {result.floor_gap:+.3f})")
    print(f"the floor took GrabCut from the box for {len(result.floor)} of {result.done} images "
          f"(listed in {os.path.join(out, 'floor.txt')}){judged}")
  return 1 if result.done == 0 else None


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
