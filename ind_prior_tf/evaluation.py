"""Scoring a trained segmenter (a fgseg teacher or a distilled student) on the masks of a prepared set:
`evaluate(config)` returns the report it writes.

Protocol (docs/fgseg.md, Evaluation): the crops of the prepared set (box crops, resized to its size)
go through the segmenter at its training size; its soft masks are resized back to the crops' size and
binarised at 0.5, as are the ground-truth masks (metrics.py). Beside the segmenter's scores the report
gives the whole-box baseline (every pixel of the box foreground), and with GrabCut the network's own
scores before the cut. <out_dir> gets scores.json (the report), per_image.csv (each crop's foreground
IoU) and cases.png (the best cases left, the worst right; each input / ground truth / soft mask /
carved foreground).
"""
import dataclasses
import json
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from ind_prior_tf import colour_crf, grabcut, guided, metrics, segmenter
from ind_prior_tf import pictures, rundir
from ind_prior_tf.data import prepared
from ind_prior_tf.errors import DataError, FlagError


@dataclasses.dataclass
class Evaluation:
  """What evaluate returns: the report (as scores.json holds it), each crop's foreground IoU by id,
  and where the files went (picture: cases.png, None when no case was drawn)."""
  report: dict
  ids: np.ndarray
  ious: np.ndarray
  out_dir: str
  scores_path: str
  picture: Optional[str]


def cases_grid(images, gt, masks):
  """One row per case: input, ground truth, soft mask, carved foreground (all RGB)."""
  rgb = lambda m: np.repeat(m, 3, axis=-1)
  return [np.stack([x, rgb(g), rgb(m), x * m]) for x, g, m in zip(images, gt, masks)]


def check_inputs(config):
  """The config's flags and files, before any TensorFlow work: returns (meta of the prepared set,
  the raw set's records by id for GrabCut or None)."""
  config.validate().check_files()
  meta = prepared.read_meta(config.prepared)
  if not meta.get("has_masks"):
    raise DataError(f"{config.prepared}: the prepared set has no masks to score against")
  raw_index = None  # with GrabCut or the CRF on the photos: the raw set's records by id, read once
  if config.grabcut_iters or _crf_on_photos(config):
    flag = "--grabcut_iters" if config.grabcut_iters else "--crf_context"
    try:
      if config.grabcut_iters:
        grabcut.require_opencv()
      raw_index = prepared.raw_record_index(config.prepared, config.raw_root)
    except (ImportError, ValueError) as e:
      raise FlagError(f"{flag}: {e}") from None
  return meta, raw_index


def _crf_on_photos(config):
  return bool(config.crf_weight and config.crf_context)


def _masks(config, unet, images, photos):
  """The segmenter's masks of a batch of crops, through the colour CRF (--crf_weight; with
  --crf_context on `photos`, each crop's (photo, box)), then the guided filter (--guided_radius)."""
  masks = segmenter.predict(unet, images, flip_average=config.flip_average,
                            shift_average=config.shift_average, clip_input=False).numpy()
  images = np.asarray(images)
  c = config
  masks = colour_crf.colour_crf_crops(images, masks, c.crf_weight, c.crf_sigma, c.crf_iters,
                                      c.crf_context, photos)
  return guided.guided_filter_batch(images, masks, c.guided_radius, c.guided_eps)


def _photos(config, ids, raw_index):
  """The (raw photo, box) of a batch's ids, read once for the CRF and GrabCut, or None where nothing
  needs them."""
  if raw_index is None:
    return None
  return [grabcut.photo_and_box(r) for r in prepared.raw_records(config.prepared, ids,
                                                                  index=raw_index)]


def _score(config, unet, ds, raw_index):
  """One pass over the masked crops: (counts, whole-box counts, network counts, ids, ious, GrabCut
  masks by id)."""
  counts, box, ids, ious = metrics.SegCounts(), metrics.SegCounts(), [], []
  network, refined = metrics.SegCounts(), {}  # with GrabCut: the masks before it
  for batch in ds.batch(config.batch_size).prefetch(2):
    photos = _photos(config, batch["id"].numpy(), raw_index)
    masks = _masks(config, unet, batch["image"], photos)
    if config.grabcut_iters:
      network.update(masks, batch["mask"].numpy())
      masks = grabcut.refine_masks(photos, masks, config.grabcut_iters, band=config.grabcut_band,
                                    weight=config.grabcut_weight, sure=config.grabcut_sure)
      refined.update(zip(batch["id"].numpy().tolist(), masks))
    counts.update(masks, batch["mask"].numpy())
    box.update(np.ones_like(masks), batch["mask"].numpy())  # the whole-box baseline
    ious.append(metrics.per_image_fg_iou(masks, batch["mask"].numpy()))
    ids.append(batch["id"].numpy())
  if not counts.images:
    raise DataError(f"{config.prepared}: split {config.split!r} has no masked crops")
  return counts, box, network, np.concatenate(ids), np.concatenate(ious), refined


def _draw_cases(config, unet, ds, ids, ious, refined, path, raw_index):
  """cases.png: the best `config.cases` crops left, the worst right; None when there are none. A
  second pass fetches only the crops shown."""
  k = min(config.cases, len(ids) // 2 if len(ids) > 1 else len(ids))
  if not k:
    return None
  order = np.argsort(ious, kind="stable")
  chosen = np.concatenate([order[::-1][:k], order[:k]])
  wanted = tf.constant(ids[chosen], tf.int64)
  found = {}
  sel = ds.filter(lambda e: tf.reduce_any(tf.equal(e["id"], wanted))).batch(len(chosen))
  for batch in sel:
    if config.grabcut_iters:
      masks = [refined[int(i)] for i in batch["id"].numpy()]
    else:
      masks = _masks(config, unet, batch["image"], _photos(config, batch["id"].numpy(), raw_index))
    for i, x, g, m in zip(batch["id"].numpy(), batch["image"].numpy(), batch["mask"].numpy(),
                          masks):
      found[int(i)] = cases_grid([x], [g], [m])[0]
  rows = [np.concatenate([found[int(ids[b])], found[int(ids[w])]])
          for b, w in zip(chosen[:k], chosen[k:])]
  pictures.save_png(path, pictures.image_grid(rows))
  return path


def evaluate(config):
  """Scores config.run_dir's segmenter (an EvalConfig) on config.prepared's masked crops of
  config.split; writes scores.json, per_image.csv and cases.png under config.output_dir() and
  returns an Evaluation. Nothing is written unless every check passed and some crop was scored."""
  meta, raw_index = check_inputs(config)
  unet, run_config, ckpt = segmenter.load_run_segmenter(config.run_dir, config.checkpoint)
  size = segmenter.unet_spec(run_config)[0]
  ds = prepared.prepared_dataset(config.prepared, config.split, only_with_masks=True)
  counts, box, network, ids, ious, refined = _score(config, unet, ds, raw_index)
  scores = counts.scores()
  out_dir = config.output_dir()
  os.makedirs(out_dir, exist_ok=True)
  # The keys' order is scores.json's, which the drift guard compares byte for byte.
  report = dict(scores, whole_box_fg_iou=box.scores()["fg_iou"], threshold=metrics.THRESHOLD,
                run_dir=os.path.abspath(config.run_dir),
                checkpoint=ckpt, prepared=os.path.abspath(config.prepared), split=config.split,
                crop_size=int(meta["size"]), model_size=size, flip_average=config.flip_average)
  if config.shift_average:  # only when set: the default report's keys stay as they were
    report.update(shift_average=config.shift_average)
  if config.crf_weight:  # only when set: the default report's keys stay as they were
    report.update(crf_weight=config.crf_weight, crf_sigma=config.crf_sigma,
                  crf_iters=config.crf_iters,
                  **({"crf_context": config.crf_context} if config.crf_context else {}))
  if config.guided_radius:
    report.update(guided_radius=config.guided_radius, guided_eps=config.guided_eps)
  if config.grabcut_iters:
    report.update(grabcut_iters=config.grabcut_iters, grabcut_band=config.grabcut_band,
                  grabcut_weight=config.grabcut_weight,
                  **({"grabcut_sure": config.grabcut_sure} if config.grabcut_sure else {}),
                  network={k: v for k, v in network.scores().items() if k != "images"})
  scores_path = os.path.join(out_dir, "scores.json")
  rundir.atomic_write_text(scores_path, json.dumps(report, indent=2) + "\n")
  rundir.atomic_write_text(os.path.join(out_dir, "per_image.csv"), "id,fg_iou\n" + "".join(
      f"{i},{v:.4f}\n" for i, v in zip(ids, ious)))
  picture = _draw_cases(config, unet, ds, ids, ious, refined, os.path.join(out_dir, "cases.png"),
                        raw_index)
  return Evaluation(report, ids, ious, out_dir, scores_path, picture)


def summary_lines(config, result):
  """What experiments.evaluate prints for a result: the scores, GrabCut's and the network's, and
  where the files went."""
  report = result.report
  flip = ", flip-averaged" if config.flip_average else ""
  if config.shift_average:
    flip += f", shift-averaged ({config.shift_average} px)"
  if config.crf_weight:
    flip += f", colour CRF w={config.crf_weight:g}"
    flip += f" on the photo (context {config.crf_context:g})" if config.crf_context else ""
  if config.guided_radius:
    flip += f", guided filter r={config.guided_radius}"
  members = report["checkpoint"].split(" + ")  # an ensemble's: its members' checkpoints
  which = (f"the mean of {len(members)} runs" if len(members) > 1
           else os.path.basename(report["checkpoint"]))
  lines = [f"{config.run_dir} ({which}{flip}) on "
           f"{report['images']} masked crops of {config.prepared} [{config.split}]: fg IoU "
           f"{report['fg_iou']:.3f}  mIoU {report['miou']:.3f}  pixel acc "
           f"{report['pixel_acc']:.3f}  (whole box: fg IoU {report['whole_box_fg_iou']:.3f})"]
  if config.grabcut_iters:
    band = f" (band {config.grabcut_band:g})" if config.grabcut_band else ""
    if config.grabcut_sure:
      band += f" (sure where the mask is within {config.grabcut_sure:g} of 0 or 1)"
    if config.grabcut_weight != 1:
      band += f", fused with the network's mask at weight {config.grabcut_weight:g}"
    net = report["network"]
    lines.append(f"  after {config.grabcut_iters} GrabCut iterations{band}; the network alone: "
                 f"fg IoU {net['fg_iou']:.3f}  mIoU {net['miou']:.3f}  pixel acc "
                 f"{net['pixel_acc']:.3f}")
  lines.append(f"wrote {result.scores_path}")
  if result.picture:
    lines.append(f"best (left) and worst (right) cases: {result.picture}")
  return lines
