"""Scores a trained segmenter (a fgseg teacher or a distilled student) on the masks of a prepared set.

  python -m experiments.evaluate --run_dir=runs/horse --prepared=prepared/horse --split=train

Protocol (docs/fgseg.md): the crops of the prepared set (box crops, resized to its size) go through the
segmenter at its training size; its soft masks are resized back to the crops' size and binarised at
0.5, as are the ground-truth masks. Prints and writes to <out_dir>/scores.json the mean per-image
foreground IoU, the dataset mIoU (foreground and background IoU from summed intersections and unions)
and the pixel accuracy; writes per_image.csv and cases.png (the best cases left, the worst right; each
input / ground truth / soft mask / carved foreground).
"""
import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("run_dir", None, "Run directory (flags.json + ckpt/) of a teacher or a student.")
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix of the run (default: the latest).")
flags.DEFINE_string("prepared", None, "Prepared set with masks (meta.json + TFRecord shards).")
flags.DEFINE_enum("split", "all", ["all", "train", "test"],
                  "Images to score (only those with a mask count).")
flags.DEFINE_string("out_dir", None, "Where scores.json, per_image.csv and cases.png go "
                    "(default <run_dir>/eval-<split>).")
flags.DEFINE_integer("cases", 8, "Best and worst cases shown in cases.png.")
flags.DEFINE_integer("batch_size", 64, "Images per inference batch.")
flags.DEFINE_integer("grabcut_iters", 0,
                     "Not in the paper: > 0 scores the masks after this many iterations of GrabCut "
                     "on the raw image around each box, seeded by the mask (ind_prior_tf/grabcut.py; "
                     "needs the raw images and OpenCV); the network's own scores are reported too.")
flags.DEFINE_float("grabcut_band", 0.0,
                   "With --grabcut_iters: > 0 lets GrabCut move the mask's edges by at most this "
                   "fraction of the box's longer side (a trimap around the mask); 0: anywhere in the "
                   "box.")
flags.DEFINE_string("raw_root", None,
                    "The raw set the prepared one was made from, for --grabcut_iters; default: "
                    "the directory its meta.json records.")
flags.DEFINE_bool("flip_average", False,
                  "Not in the paper: score the mean of the network's masks of each crop and of its "
                  "mirror image (before GrabCut, with --grabcut_iters).")

FLAGS = flags.FLAGS


def cases_grid(images, gt, masks):
  """One row per case: input, ground truth, soft mask, carved foreground (all RGB)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rgb = lambda m: np.repeat(m, 3, axis=-1)
  return [np.stack([x, rgb(g), rgb(m), x * m]) for x, g, m in zip(images, gt, masks)]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:  # the cheap checks first, before TensorFlow takes seconds to import
    for name in ("run_dir", "prepared"):
      if not FLAGS[name].value:
        raise ValueError(f"--{name}: required")
    if FLAGS.cases < 0 or FLAGS.batch_size < 1:
      raise ValueError("--cases must be >= 0 and --batch_size >= 1")
    if FLAGS.grabcut_iters < 0:
      raise ValueError(f"--grabcut_iters={FLAGS.grabcut_iters}: must be >= 0")
    if not 0.0 <= FLAGS.grabcut_band < 0.5:
      raise ValueError(f"--grabcut_band={FLAGS.grabcut_band}: must be in [0, 0.5)")
    if FLAGS.raw_root and not os.path.isdir(FLAGS.raw_root):
      raise ValueError(f"--raw_root={FLAGS.raw_root}: no such directory")
    if not os.path.isfile(os.path.join(FLAGS.run_dir, "flags.json")):
      raise ValueError(f"{os.path.join(FLAGS.run_dir, 'flags.json')}: missing; is --run_dir a "
                       "training run directory?")
    meta = prepared.read_meta(FLAGS.prepared)
    if not meta.get("has_masks"):
      raise ValueError(f"{FLAGS.prepared}: the prepared set has no masks to score against")
    raw_index = None  # with --grabcut_iters: the raw set's records by id, read once
    if FLAGS.grabcut_iters:
      from ind_prior_tf import grabcut  # pylint: disable=g-import-not-at-top
      try:
        grabcut.require_opencv()
        raw_index = prepared.raw_record_index(FLAGS.prepared, FLAGS.raw_root)
      except (ImportError, ValueError) as e:
        raise ValueError(f"--grabcut_iters: {e}") from None
  except ValueError as e:  # DataError is a ValueError
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from ind_prior_tf import metrics, segmenter, training  # pylint: disable=g-import-not-at-top
  try:
    unet, config, ckpt = segmenter.load_segmenter(FLAGS.run_dir, FLAGS.checkpoint)
    size = segmenter.unet_spec(config)[0]
    ds = prepared.prepared_dataset(FLAGS.prepared, FLAGS.split, only_with_masks=True)
    counts, box, ids, ious = metrics.SegCounts(), metrics.SegCounts(), [], []
    network, refined = metrics.SegCounts(), {}  # with --grabcut_iters: the network's own masks
    for batch in ds.batch(FLAGS.batch_size).prefetch(2):
      masks = segmenter.predict(unet, batch["image"], flip_average=FLAGS.flip_average,
                                clip_input=False).numpy()
      if FLAGS.grabcut_iters:
        network.update(masks, batch["mask"].numpy())
        records = prepared.raw_records(FLAGS.prepared, batch["id"].numpy(), index=raw_index)
        masks = grabcut.refine_masks(records, masks, FLAGS.grabcut_iters, band=FLAGS.grabcut_band)
        refined.update(zip(batch["id"].numpy().tolist(), masks))
      counts.update(masks, batch["mask"].numpy())
      box.update(np.ones_like(masks), batch["mask"].numpy())  # the whole-box baseline
      ious.append(metrics.per_image_fg_iou(masks, batch["mask"].numpy()))
      ids.append(batch["id"].numpy())
    if not counts.images:
      raise DataError(f"{FLAGS.prepared}: split {FLAGS.split!r} has no masked crops")
  except (training.RunError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  ids, ious = np.concatenate(ids), np.concatenate(ious)
  scores = counts.scores()
  out_dir = FLAGS.out_dir or os.path.join(
      FLAGS.run_dir, f"eval-{FLAGS.split}" + ("-flip" if FLAGS.flip_average else "")
      + ("-grabcut" if FLAGS.grabcut_iters else ""))
  os.makedirs(out_dir, exist_ok=True)
  report = dict(scores, whole_box_fg_iou=box.scores()["fg_iou"], threshold=metrics.THRESHOLD,
                run_dir=os.path.abspath(FLAGS.run_dir),
                checkpoint=ckpt, prepared=os.path.abspath(FLAGS.prepared), split=FLAGS.split,
                crop_size=int(meta["size"]), model_size=size, flip_average=FLAGS.flip_average)
  if FLAGS.grabcut_iters:
    report.update(grabcut_iters=FLAGS.grabcut_iters, grabcut_band=FLAGS.grabcut_band,
                  network={k: v for k, v in network.scores().items() if k != "images"})
  training.atomic_write_text(os.path.join(out_dir, "scores.json"),
                             json.dumps(report, indent=2) + "\n")
  training.atomic_write_text(os.path.join(out_dir, "per_image.csv"), "id,fg_iou\n" + "".join(
      f"{i},{v:.4f}\n" for i, v in zip(ids, ious)))

  # Best and worst cases: a second pass fetches only the crops shown.
  k = min(FLAGS.cases, len(ids) // 2 if len(ids) > 1 else len(ids))
  picture = None
  if k:
    order = np.argsort(ious, kind="stable")
    chosen = np.concatenate([order[::-1][:k], order[:k]])
    wanted = tf.constant(ids[chosen], tf.int64)
    found = {}
    sel = ds.filter(lambda e: tf.reduce_any(tf.equal(e["id"], wanted))).batch(len(chosen))
    for batch in sel:
      masks = segmenter.predict(unet, batch["image"], flip_average=FLAGS.flip_average,
                                clip_input=False).numpy()
      if FLAGS.grabcut_iters:
        masks = [refined[int(i)] for i in batch["id"].numpy()]
      for i, x, g, m in zip(batch["id"].numpy(), batch["image"].numpy(), batch["mask"].numpy(),
                            masks):
        found[int(i)] = cases_grid([x], [g], [m])[0]
    rows = [np.concatenate([found[int(ids[b])], found[int(ids[w])]])
            for b, w in zip(chosen[:k], chosen[k:])]
    picture = os.path.join(out_dir, "cases.png")
    training.save_png(picture, training.image_grid(rows))
  flip = ", flip-averaged" if FLAGS.flip_average else ""
  print(f"{FLAGS.run_dir} ({os.path.basename(ckpt)}{flip}) on {scores['images']} masked crops of "
        f"{FLAGS.prepared} [{FLAGS.split}]: fg IoU {scores['fg_iou']:.3f}  mIoU {scores['miou']:.3f}"
        f"  pixel acc {scores['pixel_acc']:.3f}  (whole box: fg IoU "
        f"{report['whole_box_fg_iou']:.3f})")
  if FLAGS.grabcut_iters:
    band = f" (band {FLAGS.grabcut_band:g})" if FLAGS.grabcut_band else ""
    print(f"  after {FLAGS.grabcut_iters} GrabCut iterations{band}; the network alone: fg IoU "
          f"{report['network']['fg_iou']:.3f}  mIoU {report['network']['miou']:.3f}  pixel acc "
          f"{report['network']['pixel_acc']:.3f}")
  print(f"wrote {os.path.join(out_dir, 'scores.json')}")
  if picture:
    print(f"best (left) and worst (right) cases: {picture}")


if __name__ == "__main__":
  app.run(main)
