"""Instance-segmentation scores of a label image against ground truth, both 16-bit label images
(0 background, 1..K one instance each): the count error, the average precision at IoU 0.5 and the mean
IoU of matched pairs. numpy only.

Predicted instances carry no confidence, so "average precision" is the score the cell-segmentation
literature uses for such label images (Data Science Bowl 2018, StarDist, Cellpose):
AP@t = TP / (TP + FP + FN), where a predicted instance is a true positive when it overlaps a true one
with IoU > t. For t >= 0.5 such a match is unique (two instances cannot both overlap a third by more
than half of their union), so no assignment problem arises.
"""
import os

import numpy as np
from PIL import Image

from ind_prior_tf.errors import DataError


def iou_matrix(pred, truth):
  """IoU [P, T] between every predicted instance (labels 1..P after relabelling) and every true one,
  from the two label images' joint histogram. Returns (iou, pred_ids, truth_ids)."""
  pred, truth = np.asarray(pred), np.asarray(truth)
  if pred.shape != truth.shape:
    raise DataError(f"label images of different sizes: {pred.shape} and {truth.shape}")
  pred_ids = np.unique(pred[pred > 0])
  truth_ids = np.unique(truth[truth > 0])
  p = np.searchsorted(pred_ids, pred.ravel()) + 1
  p[pred.ravel() == 0] = 0
  t = np.searchsorted(truth_ids, truth.ravel()) + 1
  t[truth.ravel() == 0] = 0
  np_, nt = len(pred_ids) + 1, len(truth_ids) + 1
  joint = np.bincount(p * nt + t, minlength=np_ * nt).reshape(np_, nt).astype(np.float64)
  inter = joint[1:, 1:]
  area_p = joint[1:].sum(1, keepdims=True)
  area_t = joint[:, 1:].sum(0, keepdims=True)
  union = area_p + area_t - inter
  iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
  return iou, pred_ids, truth_ids


def match(pred, truth, threshold=0.5):
  """Pairs (pred_id, truth_id, iou) with IoU > threshold, each instance in at most one pair (greedy by
  IoU, which is the unique matching for threshold >= 0.5)."""
  iou, pred_ids, truth_ids = iou_matrix(pred, truth)
  pairs, used_p, used_t = [], set(), set()
  for flat in np.argsort(-iou, axis=None, kind="stable"):
    i, j = np.unravel_index(flat, iou.shape)
    if iou[i, j] <= threshold:
      break
    if i in used_p or j in used_t:
      continue
    used_p.add(i)
    used_t.add(j)
    pairs.append((int(pred_ids[i]), int(truth_ids[j]), float(iou[i, j])))
  return pairs


def instance_scores(pred, truth, threshold=0.5):
  """The scores of label image `pred` against `truth`: count, true_count, count_error (pred - true),
  abs_count_error, tp, fp, fn, precision, recall, ap (at `threshold`, see the module doc) and
  matched_iou (the mean IoU of the matched pairs; 0 without any)."""
  pairs = match(pred, truth, threshold)
  n_pred = len(np.unique(np.asarray(pred)[np.asarray(pred) > 0]))
  n_true = len(np.unique(np.asarray(truth)[np.asarray(truth) > 0]))
  tp = len(pairs)
  fp, fn = n_pred - tp, n_true - tp
  return dict(count=n_pred, true_count=n_true, count_error=n_pred - n_true,
              abs_count_error=abs(n_pred - n_true), tp=tp, fp=fp, fn=fn,
              precision=tp / n_pred if n_pred else 0.0, recall=tp / n_true if n_true else 0.0,
              ap=tp / (tp + fp + fn) if tp + fp + fn else 1.0, iou_threshold=threshold,
              matched_iou=float(np.mean([p[2] for p in pairs])) if pairs else 0.0)


def read_labels(path, flag="--labels"):
  """A label image from a PNG (16-bit grey, or 8-bit) as int32 [H, W]; DataError naming the flag."""
  if not os.path.isfile(path):
    raise DataError(f"{flag}={path}: no such file")
  try:
    with Image.open(path) as im:
      im.load()
      if im.mode not in ("I;16", "I;16B", "I;16L", "I", "L", "P"):
        raise DataError(f"{flag}={path}: a label image must be one channel (16- or 8-bit), "
                        f"not {im.mode}")
      return np.asarray(im).astype(np.int32)
  except (OSError, SyntaxError, ValueError) as e:
    raise DataError(f"{flag}={path}: unreadable image ({e})") from None


def write_labels(path, labels):
  """A label image [H, W] (at most 65535 instances) as a 16-bit grey PNG."""
  labels = np.asarray(labels)
  if labels.size and labels.max() > 65535:
    raise DataError(f"{path}: {labels.max()} instances do not fit a 16-bit label image")
  Image.fromarray(labels.astype(np.uint16)).save(path)


def truth_labels(spec):
  """--labels: a label PNG, or skimage:coins for the coins' region-based reference segmentation."""
  if spec == "skimage:coins":
    return coins_reference_labels()
  return read_labels(spec, "--labels")


def predicted_path(instances, logdir):
  """--instances, or the one <name>_labels.png experiments.hoc_instances wrote to <logdir>/instances."""
  if instances:
    return instances
  folder = os.path.join(logdir or "", "instances")
  found = sorted(f for f in os.listdir(folder) if f.endswith("_labels.png")) \
      if os.path.isdir(folder) else []
  if len(found) != 1:
    raise DataError(f"--instances: required ({len(found)} *_labels.png in {folder}; run "
                    "experiments.hoc_instances first, or name one)")
  return os.path.join(folder, found[0])


def score_files(pred_path, truth_spec, threshold=0.5):
  """instance_scores of a predicted label PNG against truth_labels(truth_spec); DataError when they
  differ in size."""
  pred = read_labels(pred_path, "--instances")
  truth = truth_labels(truth_spec)
  if pred.shape != truth.shape:
    raise DataError(f"--labels={truth_spec}: {truth.shape[1]}x{truth.shape[0]} px, but the "
                    f"instances {pred_path} are {pred.shape[1]}x{pred.shape[0]}")
  return instance_scores(pred, truth, threshold)


def summary(scores):
  s = scores
  return (f"instances: {s['count']} found, {s['true_count']} true (count error {s['count_error']:+d});"
          f" AP@{s['iou_threshold']:g} {s['ap']:.3f} (precision {s['precision']:.3f}, recall "
          f"{s['recall']:.3f}), matched IoU {s['matched_iou']:.3f}")


def coins_reference_labels(gray=None, min_area=400):
  """The 24 coins of skimage.data.coins() as a label image: the region-based segmentation of
  scikit-image's coins example (hoc_eval_lib.coins_segmentation, which the blob score measures), one
  id per coin in raster order."""
  from skimage import measure  # pylint: disable=g-import-not-at-top

  from ind_prior_tf.hoc import evaluate as hoc_eval_lib  # pylint: disable=g-import-not-at-top
  return measure.label(hoc_eval_lib.coins_segmentation(gray, min_area)).astype(np.int32)
