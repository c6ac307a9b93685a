"""Does the instance student's count deserve trust? Its instances are compared with what the GAN
learnt an instance to be and with the photo's ground, without any true label (numpy and SciPy).

A student taught by a GAN whose instances are ground, or by composites whose ground looks nothing
like the photo's, marks the ground between the objects as instances: large irregular regions of the
ground's grey level. Three checks, each a reason when it fails:

1. the GAN's instances look like the photo's objects: their median grey level lies nearer the
   object side's than the ground's (cluster_estimate's threshold split of the photo);
2. the found instances look like the GAN's instances, not like the ground: at least `min_like`
   of them have a median grey level nearer the GAN's instances' than the ground's;
3. they have the GAN's instances' size: at least `min_sized` of them lie within a factor
   `size_factor` of the GAN's median instance area (scaled from the 64 px patch to the photo's
   window). A student that merges touching objects or breaks them into pieces fails it. (A factor
   of 2 with 0.6: on the development images a factor of 3 passed a student that merged and
   missed crowded nuclei, docs/results.md.)

No instance at all is no count to trust either.
"""
import dataclasses

import numpy as np


@dataclasses.dataclass
class Reference:
  """What the GAN's instances look like, at the photo's scale."""
  grey: float   # median over instances of their mean grey level (where alpha > 0.5), in [0, 1]
  area: float   # median thresholded mask area, px of the photo


def gan_reference(rgba, window, threshold=0.5):
  """Reference of sampled instances rgba [M, S, S, 4] in [0, 1] (before the layout), for a photo
  read in `window` px windows (S px of a patch are window px of the photo)."""
  rgba = np.asarray(rgba, np.float64)
  alpha = rgba[..., 3]
  inside = alpha > threshold
  area = inside.sum((1, 2))
  grey = rgba[..., :3].mean(-1)
  means = (grey * inside).sum((1, 2)) / np.maximum(area, 1)
  kept = area > 0
  scale = (float(window) / rgba.shape[1]) ** 2
  if not kept.any():
    return Reference(float("nan"), 0.0)
  return Reference(float(np.median(means[kept])), float(np.median(area[kept])) * scale)


def instance_greys(gray, labels):
  """Median grey level of each instance 1..K of labels: float [K]."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  k = int(labels.max())
  if not k:
    return np.zeros(0)
  return np.asarray(ndimage.median(gray, labels, np.arange(1, k + 1)), np.float64)


@dataclasses.dataclass
class Trust:
  trusted: bool
  reasons: list          # why not (empty when trusted)
  like_share: float      # share of instances nearer the GAN's grey than the ground's
  sized_share: float     # share of instances of the GAN's size
  reference: Reference
  object_grey: float
  ground_grey: float

  def summary(self):
    verdict = "trusted" if self.trusted else "NOT trusted: " + "; ".join(self.reasons)
    return (f"{verdict} (instances like the GAN's {self.like_share:.2f}, of its size "
            f"{self.sized_share:.2f}; grey: GAN instances {self.reference.grey:.3f}, photo objects "
            f"{self.object_grey:.3f}, ground {self.ground_grey:.3f}; GAN instance area "
            f"{self.reference.area:.0f} px)")

  def as_dict(self):
    d = dataclasses.asdict(self)
    d["reference"] = dataclasses.asdict(self.reference)
    return d


def check(gray, labels, object_side, reference, *, min_like=0.8, min_sized=0.6, size_factor=2.0):
  """Trust of label image `labels` [H, W] found in grey photo `gray` [H, W] (in [0, 1]), given the
  photo's object side (bool [H, W], cluster_estimate.side_mask) and the GAN's Reference."""
  gray = np.asarray(gray, np.float64)
  object_side = np.asarray(object_side, bool)
  obj = float(np.median(gray[object_side])) if object_side.any() else float("nan")
  ground = float(np.median(gray[~object_side])) if (~object_side).any() else float("nan")
  reasons = []
  ref = reference
  if not np.isfinite(ref.grey) or not abs(ref.grey - obj) < abs(ref.grey - ground):
    reasons.append(f"the GAN's instances (grey {ref.grey:.3f}) look like the ground "
                   f"({ground:.3f}) more than the objects ({obj:.3f})")
  greys = instance_greys(gray, labels)
  areas = np.bincount(np.asarray(labels).ravel())[1:]
  areas = areas[areas > 0]
  if not len(greys):
    reasons.append("no instance found")
    return Trust(False, reasons, 0.0, 0.0, ref, obj, ground)
  like = float(np.mean(np.abs(greys - ref.grey) < np.abs(greys - ground)))
  sized = float(np.mean((areas >= ref.area / size_factor) & (areas <= ref.area * size_factor))) \
      if ref.area > 0 else 0.0
  if like < min_like:
    reasons.append(f"only {like:.2f} of the instances look like the GAN's, the rest like the "
                   f"ground (at least {min_like} wanted)")
  if sized < min_sized:
    reasons.append(f"only {sized:.2f} of the instances have the GAN's size within x{size_factor:g} "
                   f"(at least {min_sized} wanted)")
  return Trust(not reasons, reasons, like, sized, ref, obj, ground)
