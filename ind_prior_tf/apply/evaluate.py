"""Scoring a trained segmenter (a fgseg teacher or a distilled student) on the masks of a prepared set:
`evaluate(config)` returns the report it writes.

Protocol (docs/fgseg.md, Evaluation): the crops of the prepared set (box crops, resized to its size)
go through the segmenter at its training size; its soft masks are resized back to the crops' size and
binarised at 0.5, as are the ground-truth masks (metrics.py). Beside the segmenter's scores the report
gives the whole-box baseline (every pixel of the box foreground) and, when the post-processing runs a
step after the network (the CRF, the guided filter, GrabCut: config.post), the network's own scores
before those steps. <out_dir> gets scores.json (the report), per_image.csv (each crop's foreground
IoU, and with the floor whether it took GrabCut from the box) and cases.png (the best cases left, the worst right; each input / ground truth / soft mask /
carved foreground).
"""
import dataclasses
import json
import os
from typing import Optional

import numpy as np

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.apply import metrics
from ind_prior_tf.data import prepared
from ind_prior_tf.errors import DataError, FlagError
from ind_prior_tf.postprocess import floor as floor_lib
from ind_prior_tf.postprocess import grabcut
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.runtime import pictures, rundir


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
  floor: Optional[np.ndarray] = None  # with the floor: bool by crop, where it took GrabCut's cut


def cases_grid(images, gt, masks):
  """One row per case: input, ground truth, soft mask, carved foreground (all RGB)."""
  rgb = lambda m: np.repeat(m, 3, axis=-1)
  return [np.stack([x, rgb(g), rgb(m), x * m]) for x, g, m in zip(images, gt, masks)]


def check_inputs(config):
  """The config's flags and files, before any TensorFlow work: returns (meta of the prepared set,
  the raw set's records by id where the post-processing reads the photos, or None)."""
  config.validate().check_files()
  meta = prepared.read_meta(config.prepared)
  if not meta.get("has_masks"):
    raise DataError(f"{config.prepared}: the prepared set has no masks to score against")
  raw_index = None  # with GrabCut or the CRF on the photos: the raw set's records by id, read once
  if config.post.needs_photos:
    flag = ("--grabcut_iters" if config.post.grabcut_iters else
            "--crf_context" if config.post.crf_on_photo else "--grabcut_floor")
    try:
      raw_index = prepared.raw_record_index(config.prepared, config.raw_root)
    except (ImportError, ValueError) as e:
      raise FlagError(f"{flag} ({config.post_source}): {e}; or --postprocess=none") from None
  return meta, raw_index


def _predict(config, unet):
  post = config.post
  return lambda images: segmenter.predict(unet, images, flip_average=post.flip_average,
                                          shift_average=post.shift_average,
                                          clip_input=False).numpy()


def _photos(config, ids, raw_index):
  """The (raw photo, box) of a batch's ids, read once for the CRF and GrabCut, or None where nothing
  needs them."""
  if raw_index is None:
    return None
  return [grabcut.photo_and_box(r) for r in prepared.raw_records(config.prepared, ids,
                                                                  index=raw_index)]


def _chosen(ious, k):
  """Indices of the k best crops, then of the k worst (ties ranked as a stable sort ranks them)."""
  order = np.argsort(ious, kind="stable")
  return np.concatenate([order[::-1][:k], order[:k]])


class _Cases:
  """cases.png's rows, gathered while the crops stream by (no second pass over the set, no second
  prediction): a crop that ends among the k best (or worst) was among the `keep` >= k best (worst)
  when it came, since the crops after it can only push it down, so only those are kept."""

  def __init__(self, keep):
    self.keep, self.ious, self.rows = keep, [], {}

  def add(self, images, truth, masks, ious):
    start = len(self.ious)
    self.ious.extend(ious)
    wanted = set(_chosen(np.asarray(self.ious), self.keep).tolist())
    self.rows = {i: r for i, r in self.rows.items() if i in wanted}
    for j in range(len(ious)):
      if start + j in wanted:
        self.rows[start + j] = cases_grid([images[j]], [truth[j]], [masks[j]])[0]

  def save(self, path):
    """Writes the best left, the worst right; returns path, or None when there is no case."""
    n = len(self.ious)
    k = min(self.keep, n // 2 if n > 1 else n)
    if not k:
      return None
    chosen = _chosen(np.asarray(self.ious), k)
    pictures.save_png(path, pictures.image_grid(
        [np.concatenate([self.rows[b], self.rows[w]]) for b, w in zip(chosen[:k], chosen[k:])]))
    return path


def _score(config, unet, ds, raw_index, seen=None):
  """One pass over the masked crops: (counts, whole-box counts, the network's counts, ids, ious,
  where the floor took GrabCut's cut, the best and worst cases). seen: the floor's SetTrust."""
  counts, box, ids, ious, took = metrics.SegCounts(), metrics.SegCounts(), [], [], []
  network, cases = metrics.SegCounts(), _Cases(config.cases)
  predict = _predict(config, unet)
  for batch in ds.batch(config.batch_size).prefetch(2):
    photos = _photos(config, batch["id"].numpy(), raw_index)
    net, masks, floor = postprocess.stage(config.post, predict, batch["image"], photos, seen)
    truth = batch["mask"].numpy()
    if config.post.after_network:  # else the network's masks are the scored ones
      network.update(net, truth)
    counts.update(masks, truth)
    box.update(np.ones_like(masks), truth)  # the whole-box baseline
    ious.append(metrics.per_image_fg_iou(masks, truth))
    ids.append(batch["id"].numpy())
    took.append(floor)
    cases.add(batch["image"].numpy(), truth, masks, ious[-1])
  if not counts.images:
    raise DataError(f"{config.prepared}: split {config.split!r} has no masked crops")
  return (counts, box, network, np.concatenate(ids), np.concatenate(ious),
          np.concatenate(took), cases)


def evaluate(config):
  """Scores config.run_dir's segmenter (an EvalConfig) on config.prepared's masked crops of
  config.split; writes scores.json, per_image.csv and cases.png under config.output_dir() and
  returns an Evaluation. Nothing is written unless every check passed and some crop was scored."""
  meta, raw_index = check_inputs(config)
  unet, run_config, ckpt = segmenter.load_run_segmenter(config.run_dir, config.checkpoint)
  size = segmenter.unet_spec(run_config)[0]
  ds = prepared.prepared_dataset(config.prepared, config.split, only_with_masks=True)
  seen = floor_lib.SetTrust()
  counts, box, network, ids, ious, took, cases = _score(config, unet, ds, raw_index, seen)
  scores = counts.scores()
  out_dir = config.output_dir()
  os.makedirs(out_dir, exist_ok=True)
  # The keys' order is scores.json's, which the drift guard compares byte for byte.
  report = dict(scores, whole_box_fg_iou=box.scores()["fg_iou"], threshold=metrics.THRESHOLD,
                run_dir=os.path.abspath(config.run_dir),
                checkpoint=ckpt, prepared=os.path.abspath(config.prepared), split=config.split,
                crop_size=int(meta["size"]), model_size=size,
                flip_average=config.post.flip_average)
  if not config.post.is_identity():  # only then: the default report's keys stay as they were
    report.update(postprocess=config.post.to_dict(), postprocess_source=config.post_source)
  if config.post.after_network:
    report.update(network={k: v for k, v in network.scores().items() if k != "images"})
  if config.post.grabcut_floor:
    report.update(floor_took_grabcut=int(took.sum()), floor_median_gap=seen.median_gap,
                  floor_set_known=seen.known(config.post.floor_trust))
  scores_path = os.path.join(out_dir, "scores.json")
  rundir.atomic_write_text(scores_path, json.dumps(report, indent=2) + "\n")
  floor = config.post.grabcut_floor
  rundir.atomic_write_text(os.path.join(out_dir, "per_image.csv"), (
      "id,fg_iou,floor\n" if floor else "id,fg_iou\n") + "".join(
          f"{i},{v:.4f}" + ((",grabcut" if t else ",recipe") if floor else "") + "\n"
          for i, v, t in zip(ids, ious, took)))
  picture = cases.save(os.path.join(out_dir, "cases.png"))
  return Evaluation(report, ids, ious, out_dir, scores_path, picture, took if floor else None)


def summary_lines(config, result):
  """What experiments.evaluate prints for a result: the scores, the network's before the steps after
  it, and where the files went."""
  report, post = result.report, config.post
  members = report["checkpoint"].split(" + ")  # an ensemble's: its members' checkpoints
  which = (f"the mean of {len(members)} runs" if len(members) > 1
           else os.path.basename(report["checkpoint"]))
  how = f"; {post.describe()}" if not post.is_identity() else ""
  lines = [f"{config.run_dir} ({which}{how}) on "
           f"{report['images']} masked crops of {config.prepared} [{config.split}]: fg IoU "
           f"{report['fg_iou']:.3f}  mIoU {report['miou']:.3f}  pixel acc "
           f"{report['pixel_acc']:.3f}  (whole box: fg IoU {report['whole_box_fg_iou']:.3f})"]
  if post.after_network:
    net = report["network"]
    words = post.network_words()
    lines.append(f"  the network alone{' (' + words + ')' if words else ''}, before the steps after "
                 f"it: fg IoU {net['fg_iou']:.3f}  mIoU {net['miou']:.3f}  pixel acc "
                 f"{net['pixel_acc']:.3f}")
  if post.grabcut_floor:
    gap = report["floor_median_gap"]
    known = ("the network knows these photos" if report["floor_set_known"] else
             "the network does not know these photos")
    lines.append(f"  the floor took GrabCut from the box for {report['floor_took_grabcut']} of "
                 f"{report['images']} crops (per_image.csv says which); "
                 + (f"{known} (median colour-fit gap {gap:+.3f}, trust from "
                    f"{post.floor_trust:g})" if gap is not None else
                    "no photo to judge the set by (grey, or no cut drew a line)"))
  lines.append(f"wrote {result.scores_path}")
  if result.picture:
    lines.append(f"best (left) and worst (right) cases: {result.picture}")
  return lines
