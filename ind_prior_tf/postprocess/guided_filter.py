"""Edge-aware smoothing of a segmenter's soft masks by a colour guided filter (not in the paper).

He, Sun and Tang's guided filter (ECCV 2010; TPAMI 2013), with the RGB crop the mask was predicted
from as the guide: in every window of (2 radius + 1)^2 pixels the output is an affine function of
the guide's colours fitted to the mask by ridge regression (eps the ridge), and each pixel averages
the fits of the windows that hold it. Where the crop's colours change along the object's outline the
mask's edge snaps onto them; where they do not it is smoothed. A network trained on composites at a
quarter width draws soft, slightly offset outlines; the filter moves them onto the photo's before
GrabCut (grabcut.py) takes its sure and probable regions from the mask. What it scores on the horses
is in docs/results.md.

NumPy and OpenCV only (box filters).
"""
import numpy as np

from ind_prior_tf.postprocess.grabcut import require_opencv

EPS = 1e-4  # the ridge: on colours in [0, 1] it lets edges of contrast ~0.01 steer the mask


def guided_filter(guide, mask, radius, eps=EPS):
  """The mask [H, W] (or [H, W, 1]) in [0, 1] filtered with the RGB guide [H, W, 3] (floats in
  [0, 1]); float32 [H, W] (or [H, W, 1], as given), clipped to [0, 1]. radius 0 returns it as is."""
  if radius < 0 or eps <= 0:
    raise ValueError(f"radius={radius}, eps={eps}: need radius >= 0 and eps > 0")
  mask = np.asarray(mask, np.float32)
  if radius == 0:
    return mask
  cv2 = require_opencv()
  p = mask.reshape(mask.shape[:2])
  guide = np.asarray(guide, np.float32).reshape(p.shape + (3,))
  box = lambda a: cv2.boxFilter(a, -1, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)
  mean_i, mean_p = box(guide), box(p)
  cov_ip = box(guide * p[..., None]) - mean_i * mean_p[..., None]
  var_i = np.empty(p.shape + (3, 3), np.float32)  # each window's colour covariance
  for a in range(3):
    for b in range(a, 3):
      var_i[..., a, b] = var_i[..., b, a] = (box(guide[..., a] * guide[..., b])
                                             - mean_i[..., a] * mean_i[..., b])
  slope = np.linalg.solve(var_i + eps * np.eye(3, dtype=np.float32), cov_ip[..., None])[..., 0]
  offset = mean_p - np.sum(slope * mean_i, axis=-1)
  out = np.sum(box(slope) * guide, axis=-1) + box(offset)
  return np.clip(out, 0.0, 1.0).astype(np.float32).reshape(mask.shape)


def guided_filter_batch(guides, masks, radius, eps=EPS):
  """guided_filter over a batch: guides [N, H, W, 3], masks [N, H, W, 1] -> float32 like masks."""
  masks = np.asarray(masks, np.float32)
  if radius == 0:
    return masks
  return np.stack([guided_filter(g, m, radius, eps) for g, m in zip(np.asarray(guides), masks)])
