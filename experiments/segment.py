"""Apply a trained segmenter (a teacher or a distilled student) to your own images.

  python -m experiments.segment --run_dir=runs/horse-distill --images=photos/ --out_dir=masks
  python -m experiments.segment --run_dir=runs/cub --images=$CUB/images.txt \
      --boxes=$CUB/bounding_boxes.txt --out_dir=out/cub

--images is a folder or a list file (`<path>` or CUB's `<image_id> <path>` per line). With --boxes
(`<key> x y w h` per line, key an image id of the list or an image's listed path or file name) each
image is cropped by its box, as in training, and its mask is mapped back to the box's place in the
original image (0 outside). Writes <out_dir>/masks/<name>.png (8-bit masks) and
<out_dir>/cutouts/<name>.png (RGBA, alpha = mask) at each image's original resolution; unreadable
images are reported, skipped and listed in <out_dir>/skipped.txt.
"""
import os
import sys

from absl import app, flags

flags.DEFINE_string("run_dir", None, "Run directory of a segmenter (flags.json + ckpt/).")
flags.DEFINE_string("checkpoint", None, "A checkpoint of the run (default: its latest).")
flags.DEFINE_string("images", None, "Folder of images, or a list file of image paths.")
flags.DEFINE_string("image_root", None,
                    "Folder that relative paths of a list file start from (default: the list's "
                    "folder, or its images/ subfolder for a CUB images.txt).")
flags.DEFINE_string("boxes", None, "Optional boxes file: `<image_id or name> x y w h` per line.")
flags.DEFINE_string("out_dir", None, "Where masks/ and cutouts/ are written.")
flags.DEFINE_float("threshold", None, "Write binary masks (mask > threshold) instead of soft ones.")
flags.DEFINE_integer("batch_size", 16, "Images per forward pass.")
flags.DEFINE_integer("grabcut_iters", 0,
                     "Not in the paper: > 0 refines each mask with this many iterations of GrabCut on "
                     "the image around its box, seeded by the mask (binary masks; needs OpenCV). On "
                     "the horses it lifts our networks' fg IoU by 0.02-0.12 (docs/fgseg.md).")
flags.DEFINE_float("grabcut_band", 0.0,
                   "With --grabcut_iters: > 0 lets GrabCut move the mask's edges by at most this "
                   "fraction of the box's longer side; 0: anywhere in the box.")
flags.DEFINE_boolean("flip_average", False,
                     "Not in the paper: each mask is the mean of the network's masks of the crop and "
                     "of its mirror image (before GrabCut, with --grabcut_iters).")
flags.DEFINE_boolean("progress", True, "Show a progress bar.")

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf import grabcut, segment_files, segmenter  # pylint: disable=g-import-not-at-top
  try:
    for name in ("run_dir", "images", "out_dir"):
      if not FLAGS[name].value:
        raise ValueError(f"--{name}: required")
    if FLAGS.threshold is not None and not 0 < FLAGS.threshold < 1:
      raise ValueError(f"--threshold={FLAGS.threshold}: must be in (0, 1)")
    if FLAGS.batch_size < 1:
      raise ValueError(f"--batch_size={FLAGS.batch_size}: must be >= 1")
    if FLAGS.grabcut_iters < 0:
      raise ValueError(f"--grabcut_iters={FLAGS.grabcut_iters}: must be >= 0")
    if not 0.0 <= FLAGS.grabcut_band < 0.5:
      raise ValueError(f"--grabcut_band={FLAGS.grabcut_band}: must be in [0, 0.5)")
    if FLAGS.grabcut_iters:
      try:
        grabcut.require_opencv()
      except ImportError as e:
        raise ValueError(f"--grabcut_iters: {e}") from None
    if FLAGS.image_root and not os.path.isdir(FLAGS.image_root):
      raise ValueError(f"--image_root={FLAGS.image_root}: no such folder")
    items = segment_files.read_image_list(FLAGS.images, FLAGS.image_root)
    boxes = segment_files.read_boxes(FLAGS.boxes) if FLAGS.boxes else None
    model, config, ckpt = segmenter.load_run_segmenter(FLAGS.run_dir, FLAGS.checkpoint)
  except (ValueError, OSError) as e:  # DataError and RunError are ValueErrors
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"segmenting {len(items)} images with {ckpt} ({config.get('image_size')} px)"
        f"{' cropped by ' + FLAGS.boxes if boxes is not None else ''}", flush=True)
  skipped = segment_files.segment_files(model, items, FLAGS.out_dir, boxes=boxes,
                                        threshold=FLAGS.threshold, batch_size=FLAGS.batch_size,
                                        progress=FLAGS.progress, grabcut_iters=FLAGS.grabcut_iters,
                                        grabcut_band=FLAGS.grabcut_band,
                                        flip_average=FLAGS.flip_average)
  done = len(items) - len(skipped)
  print(f"segmented {done} of {len(items)} images -> {FLAGS.out_dir}/masks, "
        f"{FLAGS.out_dir}/cutouts; {skipped.summary()}"
        + (f" (listed in {os.path.join(FLAGS.out_dir, 'skipped.txt')})" if len(skipped) else ""))
  if done == 0:
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
