"""A dense CRF over the crop's colours that pulls a segmenter's soft mask towards labels that agree
with its colours (not in the paper).

Mean-field inference (Krähenbühl and Koltun, NIPS 2011) for two labels with a Potts term and one
Gaussian kernel over the pixels' RGB (sigma on the 0-255 scale): each pixel's label is pushed
towards the labels of the pixels of similar colour anywhere in the crop. The unary term is the
network's own mask, so where it is sure it stays, and where it is unsure (a blurred outline, a leg
half drawn) the colours the network labelled elsewhere in the crop decide. The bilateral kernel of
the usual dense CRF also weighs distance; on the 128 px box crops a spatial bandwidth comparable to
the crop changed little, so it is left out, which makes the filtering a blur of a small 3-D colour
grid (the bilateral grid: trilinear splat, a Gaussian of one cell, trilinear slice), with the
kernel normalised symmetrically as in the reference implementation. NumPy only; well under a
tenth of a second per 128 px crop. It runs before the guided filter (guided.py) and GrabCut
(grabcut.py) in the chain's score; what it scores on the horses is in docs/results.md.
"""
import numpy as np
from PIL import Image

from ind_prior_tf.postprocess.grabcut import context_window

SIGMA = 5.0  # colour bandwidth on the 0-255 scale: about the noise of one surface in a JPEG
ITERS = 10  # mean-field steps; the labels settle in fewer
_CLIP = 1e-4  # the mask is clipped to [_CLIP, 1 - _CLIP] before its log is taken
OUTSIDE = 0.01  # the mask given to the photo's pixels around the box: background, nearly sure
_TAPS = np.exp(-0.5 * np.arange(-3, 4, dtype=np.float64) ** 2)
_TAPS /= _TAPS.sum()  # a Gaussian of one grid cell, cut at three


def _blur(grid):
  """_TAPS along each axis of a zero-padded 3-D grid (padding >= 3 cells on every side)."""
  for axis in range(3):
    out = np.zeros_like(grid)
    n = grid.shape[axis]
    for k, tap in zip(range(-3, 4), _TAPS):
      dst = [slice(None)] * 3
      src = [slice(None)] * 3
      dst[axis] = slice(max(0, -k), n - max(0, k))
      src[axis] = slice(max(0, k), n - max(0, -k))
      out[tuple(dst)] += tap * grid[tuple(src)]
    grid = out
  return grid


def colour_crf(image, mask, weight, sigma=SIGMA, iters=ITERS):
  """The mask [H, W] (or [H, W, 1]) in [0, 1] after `iters` mean-field steps of the colour CRF on
  `image` ([H, W, 3], floats in [0, 1]); float32 shaped like mask. weight is the Potts term's
  strength against the unary -log(mask); weight 0 (or iters 0) returns the mask as is."""
  if weight < 0 or sigma <= 0 or iters < 0:
    raise ValueError(f"weight={weight}, sigma={sigma}, iters={iters}: need weight >= 0, "
                     "sigma > 0 and iters >= 0")
  mask = np.asarray(mask, np.float32)
  if weight == 0 or iters == 0:
    return mask
  q = np.clip(mask.astype(np.float64).reshape(-1), _CLIP, 1.0 - _CLIP)
  logit = np.log(q) - np.log1p(-q)
  colours = np.asarray(image, np.float64).reshape(-1, 3) * (255.0 / sigma)
  colours -= np.floor(colours.min(axis=0)) - 4  # four empty cells below: the blur's reach + 1
  shape = tuple(int(s) for s in np.floor(colours.max(axis=0)) + 6)
  base = np.floor(colours).astype(np.int64)
  frac = colours - base
  corners = [np.array(c) for c in np.ndindex(2, 2, 2)]
  index = np.stack([np.ravel_multi_index((base + c).T, shape) for c in corners])
  share = np.stack([np.prod(np.where(c == 1, frac, 1.0 - frac), axis=1) for c in corners])
  cells = int(np.prod(shape))

  def filt(values):  # sum over pixels j of k(i, j) values[j], on the grid
    grid = np.bincount(index.ravel(), (share * values).ravel(), minlength=cells)
    return (_blur(grid.reshape(shape)).ravel()[index] * share).sum(axis=0)

  norm = 1.0 / np.sqrt(filt(np.ones_like(q)) + 1e-20)
  total = norm * filt(norm)  # the foreground and background messages add up to this
  fg = q
  for _ in range(iters):
    message = norm * filt(norm * fg)
    # Two labels: the softmax of (unary + weight x message) is a sigmoid of their difference.
    fg = 1.0 / (1.0 + np.exp(-(logit + weight * (2.0 * message - total))))
  return fg.astype(np.float32).reshape(mask.shape)


def colour_crf_batch(images, masks, weight, sigma=SIGMA, iters=ITERS):
  """colour_crf over a batch: images [N, H, W, 3], masks [N, H, W, 1] -> float32 like masks."""
  masks = np.asarray(masks, np.float32)
  if weight == 0 or iters == 0:
    colour_crf(np.zeros((1, 1, 3)), np.zeros((1, 1)), weight, sigma, iters)  # the checks alone
    return masks
  return np.stack([colour_crf(i, m, weight, sigma, iters)
                   for i, m in zip(np.asarray(images), masks)])


def colour_crf_in_photo(photo, region, mask, weight, sigma=SIGMA, iters=ITERS, context=0.5):
  """colour_crf of a box crop's mask [S, S] (or [S, S, 1]) run on the photo around its box: the box
  `region` (x0, y0, x1, y1) of `photo` (uint8 [H, W, 3] RGB) widened by `context` times its size on
  each side (grabcut.context_window), scaled as the crop was (the box to S x S). The pixels outside
  the box enter with mask OUTSIDE: the colours of the photo's surroundings, which no crop shows,
  pull the box's pixels of those colours towards background, as GrabCut's background model does.
  Returns the box's part, float32 shaped like mask; context 0 is colour_crf on the box alone."""
  mask = np.asarray(mask, np.float32)
  size = mask.shape[0]
  h, w = photo.shape[:2]
  x0, y0, x1, y1 = region
  wx0, wy0, wx1, wy1 = context_window(region, w, h, context)
  sx, sy = size / (x1 - x0), size / (y1 - y0)
  bx0, by0 = int(round((x0 - wx0) * sx)), int(round((y0 - wy0) * sy))
  width = max(bx0 + size, int(round((wx1 - wx0) * sx)))
  height = max(by0 + size, int(round((wy1 - wy0) * sy)))
  window = Image.fromarray(np.ascontiguousarray(photo[wy0:wy1, wx0:wx1]), "RGB")
  window = np.asarray(window.resize((width, height), Image.BILINEAR), np.float32) / 255.0
  prior = np.full((height, width), OUTSIDE, np.float32)
  prior[by0:by0 + size, bx0:bx0 + size] = mask.reshape(size, size)
  out = colour_crf(window, prior, weight, sigma, iters)
  return out[by0:by0 + size, bx0:bx0 + size].reshape(mask.shape)


def colour_crf_crops(crops, masks, weight, sigma=SIGMA, iters=ITERS, context=0.0, photos=None):
  """The masks [N, S, S, 1] of box crops [N, S, S, 3] (floats in [0, 1]) through the colour CRF:
  on the crops (colour_crf_batch), or with context > 0 on the photos around their boxes
  (colour_crf_in_photo). photos: one (photo, region) per crop, read only in the second case (an
  iterator may load them lazily). -> float32 like masks."""
  if not (weight and iters and context):
    return colour_crf_batch(crops, masks, weight, sigma, iters)
  masks = np.asarray(masks, np.float32)
  return np.stack([colour_crf_in_photo(photo, region, m, weight, sigma, iters, context)
                   for (photo, region), m in zip(photos, masks)])
