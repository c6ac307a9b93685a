"""The zero-training answers a user compares the project with, scored as evaluate scores a run:
GrabCut from the same boxes (OpenCV, rect = the box on the whole photo) and the whole box.

`score(prepared, split, method)` reads the prepared set's masked crops and, for GrabCut, the raw
photos behind them (the set's meta.json, or raw_root), and returns (report, ids, per-image fg IoU):
the same protocol as experiments.evaluate (crop masks at the prepared size, threshold 0.5).
"""
import numpy as np
from PIL import Image

from ind_prior_tf.apply import metrics
from ind_prior_tf.errors import DataError
from ind_prior_tf.postprocess import grabcut

METHODS = ("grabcut", "box")
ITERS = 5  # the data README's reference scores: 5 iterations


def grabcut_box(photo, region, size, iterations=ITERS):
  """GrabCut initialised with the box as its rectangle on the whole photo (uint8 [H, W, 3] RGB;
  region (x0, y0, x1, y1)): its foreground inside the box, resized to size x size (bilinear, as
  the prepared masks), float32 in [0, 1]. A box that fills the photo leaves GrabCut no background
  to learn: the whole box comes back, as it does where OpenCV fails."""
  cv2 = grabcut.require_opencv()
  h, w = photo.shape[:2]
  x0, y0, x1, y1 = region
  whole = np.ones((size, size), np.float32)
  if x0 <= 0 and y0 <= 0 and x1 >= w and y1 >= h:
    return whole
  cv2.setRNGSeed(0)
  mask = np.zeros((h, w), np.uint8)
  try:
    cv2.grabCut(np.ascontiguousarray(photo[..., ::-1]), mask, (x0, y0, x1 - x0, y1 - y0),
                np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64), int(iterations),
                cv2.GC_INIT_WITH_RECT)
  except cv2.error:
    return whole
  cut = np.isin(mask[y0:y1, x0:x1], (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
  cut = np.asarray(Image.fromarray(cut, "F").resize((size, size), Image.BILINEAR))
  return np.clip(cut, 0.0, 1.0).astype(np.float32)


def score(prepared_dir, split="all", method="grabcut", iterations=ITERS, raw_root=None,
          progress=None):
  """(report, ids, ious) of `method` on the masked crops of prepared_dir's split."""
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  if method not in METHODS:
    raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
  arrays = prepared.load_prepared_arrays(prepared_dir, split, only_with_masks=True)
  truth, ids = arrays["masks"], np.asarray(arrays["ids"])
  if not len(ids):
    raise DataError(f"{prepared_dir}: split {split!r} has no masked crops")
  size = truth.shape[1]
  if method == "box":
    masks = np.ones_like(truth, np.float32)
  else:
    records = prepared.raw_records(prepared_dir, ids, raw_root)
    masks = []
    for i, record in enumerate(records):
      photo, region = grabcut.photo_and_box(record)
      masks.append(grabcut_box(photo, region, size, iterations)[..., None])
      if progress:
        progress(i + 1, len(records))
    masks = np.stack(masks)
  counts = metrics.SegCounts().update(masks, truth)
  ious = metrics.per_image_fg_iou(masks, truth)
  report = dict(counts.scores(), method=method, split=split, crop_size=int(size),
                **({"grabcut_iters": int(iterations)} if method == "grabcut" else {}))
  return report, ids, ious
