"""GrabCut refinement of a segmenter's box-crop masks on the full images (not in the paper).

A segmenter sees only the box crop. OpenCV's GrabCut fits colour models of the object and of the
background, the latter also from the pixels around the box, which no crop shows, and cuts along the
image's edges. Seeded with a segmenter's mask (probable foreground where the mask exceeds a threshold,
probable background elsewhere in the box, sure background outside it), it keeps the mask where the
colours agree with it and moves its edges onto the image's. The method itself needs only the boxes,
and so does this step. What it scores on the horses is in docs/results.md.
"""
from concurrent import futures
import os

import numpy as np
from PIL import Image

from ind_prior_tf.apply import metrics
from ind_prior_tf.data import boxes, images

THREADS = 4  # at most so many crops cut at once (at most one per core)


def require_opencv():
  """cv2, or an ImportError that says what to install."""
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ImportError("GrabCut needs OpenCV: pip install opencv-python-headless") from None
  return cv2


def context_window(region, width, height, context):
  """The box region (x0, y0, x1, y1) widened by `context` times its size on each side, clipped."""
  x0, y0, x1, y1 = region
  dx, dy = int(round((x1 - x0) * context)), int(round((y1 - y0) * context))
  return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)


def refine_mask(image, region, crop_mask, iterations=3, threshold=0.5, context=0.5, max_side=512,
                min_agreement=0.5, sure=0.0):
  """The crop mask of `image`'s box `region`, refined by GrabCut; float32 [S, S] in [0, 1].

  image: uint8 [H, W, 3] RGB; region: the box (x0, y0, x1, y1) the crop was cut from; crop_mask
  [S, S] or [S, S, 1] in [0, 1]. GrabCut runs on the box widened by `context` times its size on each
  side (the background model's outside pixels), scaled down so that its longer side is at most
  `max_side`. The result is the cut mapped back onto the crop (bilinear, as the prepared masks are
  made). Where GrabCut has nothing to work with (a mask empty or full over a box that fills the image)
  the thresholded mask comes back unchanged, and so it does where the cut agrees with it by an IoU
  below `min_agreement`: there GrabCut's colour models have lost the object rather than corrected its
  edges. sure > 0 (ours) seeds GrabCut with the mask's confidence: a pixel where it is at least
  1 - sure is sure foreground, one where it is at most `sure` sure background, so the cut moves only
  what the network is unsure of and draws its edges knowing what it must keep; 0 leaves the whole box
  to it.
  """
  cv2 = require_opencv()
  if not 0.0 <= sure < 0.5:
    raise ValueError(f"sure={sure}: must be in [0, 0.5)")
  crop_mask = np.asarray(crop_mask, np.float32)
  if crop_mask.ndim == 3:
    crop_mask = crop_mask[..., 0]
  size = crop_mask.shape[0]
  fallback = (crop_mask > threshold).astype(np.float32)
  h, w = image.shape[:2]
  x0, y0, x1, y1 = region
  wx0, wy0, wx1, wy1 = context_window(region, w, h, context)
  scale = min(1.0, max_side / max(wx1 - wx0, wy1 - wy0))
  win = np.ascontiguousarray(image[wy0:wy1, wx0:wx1])
  ww, wh = max(1, round((wx1 - wx0) * scale)), max(1, round((wy1 - wy0) * scale))
  if scale < 1:
    win = np.asarray(Image.fromarray(win, "RGB").resize((ww, wh), Image.BILINEAR), np.uint8)
  # The box in the (scaled) window; at least one pixel wide.
  bx0, by0 = int(round((x0 - wx0) * scale)), int(round((y0 - wy0) * scale))
  bx1, by1 = max(bx0 + 1, int(round((x1 - wx0) * scale))), max(by0 + 1, int(round((y1 - wy0) * scale)))
  inside = np.asarray(Image.fromarray(crop_mask, "F").resize((bx1 - bx0, by1 - by0), Image.BILINEAR))
  seed = inside > threshold
  seeds = np.full((wh, ww), cv2.GC_BGD, np.uint8)
  labels = np.where(seed, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
  if sure > 0:
    labels = np.where(inside >= 1.0 - sure, cv2.GC_FGD,
                      np.where(inside <= sure, cv2.GC_BGD, labels))
  seeds[by0:by1, bx0:bx1] = labels
  has_fg = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).any()
  has_bg = ((seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)).any()
  if not (has_fg and has_bg) or iterations < 1:
    return fallback
  cv2.setRNGSeed(0)  # its k-means start draws from OpenCV's global generator
  try:
    cv2.grabCut(np.ascontiguousarray(win[..., ::-1]), seeds, None, np.zeros((1, 65), np.float64),
                np.zeros((1, 65), np.float64), int(iterations), cv2.GC_INIT_WITH_MASK)
  except cv2.error:  # e.g. too few distinct colours for its mixture models
    return fallback
  cut = np.isin(seeds[by0:by1, bx0:bx1], (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
  if metrics.per_image_fg_iou(cut[None], seed[None].astype(np.float32))[0] < min_agreement:
    return fallback
  if cut.shape != (size, size):
    cut = np.asarray(Image.fromarray(cut, "F").resize((size, size), Image.BILINEAR))
  return np.clip(cut, 0.0, 1.0).astype(np.float32)


def photo_and_box(record):
  """(the raw photo, uint8 [H, W, 3] RGB; its box clipped to it (x0, y0, x1, y1)) of a Record."""
  image = images.load_image_rgb(record.image_path)
  return image, boxes.clip_box(record.box, image.shape[1], image.shape[0], record.image_path)


def refine_masks(photos, masks, iterations=3, threshold=0.5, progress=None, sure=0.0):
  """GrabCut-refined copies of crop masks in [0, 1], float32 [N, S, S, 1] (or [N, S, S]); sure > 0
  takes the trimap from their confidence (refine_mask).

  photos: the (photo, box) of the raw images the crops were cut from, in their order
  (photo_and_box; read by the caller, who may need them elsewhere too). progress: an optional
  callable(done, total).
  """
  masks = np.asarray(masks, np.float32)
  out = np.empty_like(masks)
  photos = iter(photos)

  def one(i, photo):
    image, region = photo
    out[i] = refine_mask(image, region, masks[i], iterations, threshold,
                         sure=sure).reshape(masks[i].shape)
    return i

  # OpenCV's GrabCut and PIL's resizing let go of the GIL, so threads run crops side by side; each
  # cut seeds OpenCV's generator, which is per thread, so the result does not depend on them. Photos
  # are read a chunk at a time, not all at once.
  workers = max(1, min(THREADS, os.cpu_count() or 1))
  with futures.ThreadPoolExecutor(workers) as pool:
    for start in range(0, len(masks), 8 * workers):
      chunk = range(start, min(start + 8 * workers, len(masks)))
      given = [next(photos, None) for _ in chunk]
      if given[-1] is None:
        raise ValueError(f"{len(masks)} masks but fewer photos")
      for i in pool.map(one, chunk, given):
        if progress:
          progress(i + 1, len(masks))
  return out


def refine_labels(records, masks, iterations=3, threshold=0.5, progress=None):
  """refine_masks for a teacher's uint8 labels [N, S, S, 1] cut from the raw Records `records`
  (data.prepared.raw_records, in their order): uint8 [N, S, S, 1]. An unreadable raw image ->
  errors.DataError."""
  cut = refine_masks(map(photo_and_box, records), np.asarray(masks) / 255.0, iterations, threshold,
                     progress)
  return np.round(cut * 255.0).astype(np.uint8)
