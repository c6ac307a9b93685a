"""Instances of a whole photo from a window predictor: sliding windows with overlap, stitched maps, a
seeded watershed, and the outputs (16-bit label PNG, overlay PNG, CSV). numpy and scikit-image; the
predictor (instances.predictor, or any function windows -> maps) is the only TensorFlow part.

Stitching. Windows of `window` px (the HOC run's: ~1.5x the largest instance) are cut every `stride`
px (default a quarter window), scaled to the student's size, predicted, scaled back, and their maps
averaged with a weight that is 1 in the window's centre and falls to ~0 at its edges (a squared sine).
The student never learnt instances cut by the window's edge (instances_data drops them), so what it
says near an edge is unreliable; with a quarter-window stride every instance up to 0.75 windows wide
lies whole inside some window, far from its edges, and that window's maps dominate the stitched ones.
The instances are found once, on the whole stitched maps, so an instance is never split at a seam.

Post-processing, every size relative to the window (no image-specific constants): foreground where its
map exceeds one half; the centreness smoothed (a Gaussian of `smooth` windows); one seed per maximum
of it inside the foreground that rises at least `prominence` above the saddle to a higher one
(h-maxima), so that a ripple on a large instance does not split it where a fixed level would; a
watershed of the inverted centreness from the seeds inside the foreground; instances under `min_area`
of the window's area dropped, and the background holes inside each instance filled. The student's centreness is lower and bumpier on real photos than on
its composites (docs/results.md, "Counting instances"): hence maxima by prominence, not a level.
"""
import csv
import os

import numpy as np
from PIL import Image

from ind_prior_tf.data import pools
from ind_prior_tf.hoc.instances import baseline as cluster_baseline


def window_weight(size, floor=1e-3):
  """[size, size] float32: sin^2 along each axis (1 in the middle, ~0 at the edges), at least floor
  so that the image's own border, which only window edges cover, still gets a value."""
  ramp = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
  return np.maximum(np.outer(ramp, ramp), floor).astype(np.float32)


def window_starts(length, window, stride):
  """Starts 0, stride, ... plus one aligned to the far border (pools' grid), for length >= window."""
  return pools._grid(length, window, stride)  # pylint: disable=protected-access


def _resize(a, size):
  """A float [h, w, C] map (or uint8 image) resized bilinearly to size x size (or (h, w))."""
  size = (size, size) if np.isscalar(size) else size
  if a.dtype == np.uint8:
    return np.asarray(Image.fromarray(a).resize(size[::-1], Image.BILINEAR))
  return np.stack([np.asarray(Image.fromarray(a[..., c].astype(np.float32)).resize(
      size[::-1], Image.BILINEAR)) for c in range(a.shape[-1])], -1)


def stitched_maps(image, predict, window, stride=None, model_size=64, batch=64):
  """The predictor's maps over the whole image: float32 [H, W, C] in the image's pixels.

  image: uint8 [H, W, 3]; predict: uint8 windows [M, S, S, 3] -> float [M, S, S, C] (S = model_size).
  An image smaller than the window is padded by edge replication (cropped off again)."""
  image = np.asarray(image)
  h, w = image.shape[:2]
  stride = stride or max(1, window // 4)
  ph, pw = max(h, window), max(w, window)
  padded = np.pad(image, [(0, ph - h), (0, pw - w), (0, 0)], mode="edge")
  starts = [(y, x) for y in window_starts(ph, window, stride)
            for x in window_starts(pw, window, stride)]
  weight = window_weight(window)
  total, norm = None, np.zeros((ph, pw), np.float32)
  for i in range(0, len(starts), batch):
    chunk = starts[i:i + batch]
    crops = np.stack([_resize(np.ascontiguousarray(padded[y:y + window, x:x + window]), model_size)
                      for y, x in chunk])
    maps = predict(crops)
    if total is None:
      total = np.zeros((ph, pw, maps.shape[-1]), np.float32)
    for (y, x), m in zip(chunk, maps):
      back = _resize(np.asarray(m, np.float32), window)
      total[y:y + window, x:x + window] += back * weight[..., None]
      norm[y:y + window, x:x + window] += weight
  return (total / norm[..., None])[:h, :w]


def instances_from_maps(maps, window, prominence=0.3, smooth=0.03, min_area=0.01):
  """Label image int32 [H, W] (1..K) from stitched maps [H, W, 2] (foreground, centreness).

  smooth is in windows, min_area a fraction of the window's area (window px wide): instances are
  sized relative to the window, as the HOC run's window is relative to the instances."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import measure, morphology, segmentation  # pylint: disable=g-import-not-at-top
  fg = maps[..., 0] > 0.5
  centre = maps[..., 1].astype(np.float64)
  if smooth:
    centre = ndimage.gaussian_filter(centre, smooth * window)
  peaks = morphology.h_maxima(np.where(fg, centre, 0.0), prominence) > 0
  seeds = measure.label(peaks & fg)
  labels = segmentation.watershed(-centre, seeds, mask=fg)
  return fill_holes(cluster_baseline.drop_small(labels, min_area * float(window) ** 2))


def fill_holes(labels):
  """Each instance with its enclosed background holes filled: an instance is one solid region, and
  the student misses dark details inside one (a coin's relief) as background."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  out = labels.copy()
  for k, box in enumerate(ndimage.find_objects(labels), start=1):
    if box is None:
      continue
    region = out[box]
    region[ndimage.binary_fill_holes(labels[box] == k) & (region == 0)] = k
  return out


def instance_table(labels):
  """One row per instance: id, area (px), centroid (x, y) and box (x0, y0, x1, y1; x1, y1 exclusive)."""
  from skimage import measure  # pylint: disable=g-import-not-at-top
  rows = []
  for r in measure.regionprops(labels):
    y0, x0, y1, x1 = r.bbox
    cy, cx = r.centroid
    rows.append(dict(id=int(r.label), area=int(r.area), centroid_x=round(float(cx), 2),
                     centroid_y=round(float(cy), 2), x0=int(x0), y0=int(y0), x1=int(x1), y1=int(y1)))
  return rows


def overlay(image, labels, alpha=0.45, seed=0):
  """uint8 [H, W, 3]: the photo with each instance tinted in its own colour, its outline in white and
  its id's position marked by a dot at the centroid."""
  from skimage import segmentation  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  colours = rng.uniform(0.2, 1.0, (int(labels.max()) + 1, 3))
  colours[0] = 0
  out = np.asarray(image, np.float32) / 255.0
  tinted = colours[labels]
  inside = labels[..., None] > 0
  out = np.where(inside, (1 - alpha) * out + alpha * tinted, out)
  out[segmentation.find_boundaries(labels, mode="inner")] = 1.0
  for row in instance_table(labels):
    y, x = int(round(row["centroid_y"])), int(round(row["centroid_x"]))
    out[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = (1.0, 0.0, 0.0)
  return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def write_outputs(out_dir, stem, image, labels):
  """<out_dir>/<stem>_labels.png (16-bit), <stem>_overlay.png and <stem>_instances.csv; returns
  their paths (a dict)."""
  from ind_prior_tf.hoc.instances import metrics as instance_metrics  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  paths = dict(labels=os.path.join(out_dir, f"{stem}_labels.png"),
               overlay=os.path.join(out_dir, f"{stem}_overlay.png"),
               csv=os.path.join(out_dir, f"{stem}_instances.csv"))
  instance_metrics.write_labels(paths["labels"], labels)
  Image.fromarray(overlay(image, labels)).save(paths["overlay"])
  rows = instance_table(labels)
  with open(paths["csv"], "w", newline="") as f:
    writer = csv.DictWriter(f, ["id", "area", "centroid_x", "centroid_y", "x0", "y0", "x1", "y1"])
    writer.writeheader()
    writer.writerows(rows)
  return paths
