"""The classical count that needs no training, beside which the GAN's count is judged: the photo
cut at Otsu's threshold on the objects' side (cluster_estimate's polarity), where it stands out
from its neighbourhood (with the pale objects that do, without the ground lit along an edge),
split at the peaks of its distance transform by a watershed (scikit-image), as a user would write
it. Every size is a fraction of the objects' radius, which cluster_estimate reads from the photo
(with the same threshold split and watershed, which live here).
"""
import numpy as np

# How every output names this count beside the GAN's.
TITLE = "classical baseline (Otsu + distance-transform watershed, no training)"


def to_gray(image):
  """float64 [H, W] in [0, 1] from uint8 [H, W, 3] (or [H, W])."""
  a = np.asarray(image, np.float64)
  if a.ndim == 3:
    a = a[..., :3].mean(-1)
  return a / 255.0 if np.asarray(image).dtype == np.uint8 else a


def side_mask(gray, polarity, sigma=1.0):
  """(bool [H, W] object side, threshold): the smoothed photo cut at Otsu's threshold, the bright
  side for polarity "bright", the dark one for "dark"."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import filters  # pylint: disable=g-import-not-at-top
  g = ndimage.gaussian_filter(np.asarray(gray, np.float64), sigma) if sigma else gray
  t = float(filters.threshold_otsu(g)) if g.max() > g.min() else float(g.max())
  return (g > t) if polarity == "bright" else (g <= t), t


def split_mask(mask, radius, min_area=0.25):
  """int32 labels [H, W]: a binary mask of touching objects of about `radius` px split into one
  region per object. Peaks of the distance transform (smoothed by radius / 8) at least 0.4 radius
  apart seed a watershed of the inverted distance inside the mask; a part of the mask too thin for a
  peak is one region; regions smaller than `min_area` of a disc of that radius are dropped. (0.4 and
  the smoothing: the best of 0.4 / 0.6 apart, with or without smoothing, with or without h-maxima,
  on synthetic clusters and coins, docs/results.md.)"""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import feature, measure, segmentation  # pylint: disable=g-import-not-at-top
  mask = np.asarray(mask, bool)
  if not mask.any():
    return np.zeros(mask.shape, np.int32)
  radius = max(float(radius), 1.0)
  dist = ndimage.distance_transform_edt(mask)
  dist = ndimage.gaussian_filter(dist, max(radius / 8, 0.5))
  parts = measure.label(mask)
  peaks = feature.peak_local_max(dist, min_distance=max(1, int(round(0.4 * radius))),
                                 labels=parts, exclude_border=False)
  seeds = np.zeros(mask.shape, bool)
  seeds[tuple(peaks.T)] = True
  markers = measure.label(seeds)
  # A part of the mask with no seed (too thin for a peak) is still one object.
  unseeded = np.setdiff1d(np.unique(parts[mask]), np.unique(parts[seeds]))
  for k in unseeded:
    markers[parts == k] = markers.max() + 1
  labels = segmentation.watershed(-dist, markers, mask=mask)
  return drop_small(labels, min_area * np.pi * radius ** 2)


def drop_small(labels, min_px):
  """Labels renumbered 1..K, regions under min_px px removed."""
  areas = np.bincount(labels.ravel())
  keep = np.flatnonzero(areas >= max(min_px, 1))
  keep = keep[keep > 0]
  lut = np.zeros(len(areas), np.int32)
  lut[keep] = np.arange(1, len(keep) + 1)
  return lut[labels]


def _toward_objects(gray, polarity):
  """float64 [H, W]: the photo smoothed by 1 px, signed so that the objects are the high side."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  g = ndimage.gaussian_filter(np.asarray(gray, np.float64), 1.0)
  return g if polarity == "bright" else -g


def object_side(gray, polarity, radius, lenience=0.5, local=1.0, edge_reach=8.0,
                core_share=0.75):
  """bool [H, W]: the photo's objects for the classical count. Otsu's threshold of the photo
  (smoothed by 1 px) on the objects' side, plus the pixels past a lenient threshold (`lenience` of
  the way from Otsu's to the ground's median); of both, only the pixels brighter (for dark objects:
  darker) than their surroundings (a Gaussian mean of `local` radii), unless they are `core_share`
  of the way from Otsu's threshold to the median of its side (the flat, noisy inside of an object
  larger than the radius, which the comparison would riddle with holes). A pale object beside
  dark ones, under Otsu's threshold of the whole photo, stands out from its own neighbourhood; the
  thin gaps between touching objects, and the paler matter between dense objects (the cytoplasm
  between stained nuclei) that Otsu's threshold of the whole photo takes in, do not. (Chosen on
  the dev half of the DSB nuclei and on synthetic clusters, docs/results.md: an undercount of
  touching and pale objects before, then merges in dense clusters.) recut_edge_ground with
  `edge_reach` (0: not) comes before the comparison of the strict side."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import filters  # pylint: disable=g-import-not-at-top
  o = _toward_objects(gray, polarity)
  if o.max() <= o.min():
    return np.zeros(o.shape, bool)
  t = float(filters.threshold_otsu(o))
  strict = o > t
  if not strict.any():
    return strict
  # Compared with the surroundings after the recut: the recut needs a lit margin in one piece.
  above = ((o > ndimage.gaussian_filter(o, max(local * float(radius), 1.0))) if local else
           np.ones(o.shape, bool))
  side = strict
  if lenience and not strict.all():
    side = strict | (above & (o > t - lenience * (t - float(np.median(o[~strict])))))
  if edge_reach:
    side = recut_edge_ground(side, o, edge_reach * float(radius))
  if not local:
    return side
  return side & (above | (o > t + core_share * (float(np.median(o[strict])) - t)))


def recut_edge_ground(side, o, reach):
  """bool [H, W]: `side` where each of its regions that runs along an edge of the photo for at least
  `reach` px and half that edge's length keeps only its pixels past Otsu's threshold of its own
  values of `o` (the photo signed toward the objects). Such a region is ground lit unevenly (a
  bright margin, a vignette: the top of skimage's coins, which the lenient threshold cut into six
  regions), with the objects that touch it inside. Objects that the edge cuts rarely form one
  region that long: no region of the DSB nuclei's dev half is recut."""
  from skimage import filters, measure  # pylint: disable=g-import-not-at-top
  regions = measure.label(side)
  along = set()
  for edge in (regions[0], regions[-1], regions[:, 0], regions[:, -1]):
    contact = np.bincount(edge, minlength=regions.max() + 1)
    along.update(np.flatnonzero(contact >= max(reach, 0.5 * len(edge))).tolist())
  side = side.copy()
  for k in sorted(along - {0}):
    region = regions == k
    values = o[region]
    if values.max() > values.min():
      side[region & (o <= float(filters.threshold_otsu(values)))] = False
  return side


def nested_side(gray, polarity, context):
  """bool [H, W]: objects that lie inside larger ones (nuclei inside cells): within Otsu's object
  side of the photo (smoothed by 1 px), the pixels that stand out from their surroundings (the
  photo minus its Gaussian mean of `context` px) past Otsu's threshold of that contrast over the
  object side. cluster_estimate decides when a photo's objects are of this kind."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import filters  # pylint: disable=g-import-not-at-top
  o = _toward_objects(gray, polarity)
  if o.max() <= o.min():
    return np.zeros(o.shape, bool)
  outer = o > float(filters.threshold_otsu(o))
  contrast = o - ndimage.gaussian_filter(o, max(float(context), 1.0))
  if not outer.any() or np.ptp(contrast[outer]) <= 0:
    return np.zeros(o.shape, bool)
  return outer & (contrast > float(filters.threshold_otsu(contrast[outer])))


def baseline_labels(image, polarity, radius, context=0.0):
  """int32 labels [H, W] of the photo's objects (uint8 [H, W, 3] or grey), `polarity` "bright" or
  "dark", about `radius` px (cluster_estimate.estimate reads both from the photo, and `context`,
  non-zero for objects inside larger ones): object_side (or nested_side), holes under a twentieth
  of an object filled (a dark detail inside an object; the gaps between touching objects stay),
  split_mask (nested objects: regions under half a disc of the radius dropped, specks of the
  containers' texture)."""
  from skimage import morphology  # pylint: disable=g-import-not-at-top
  gray = to_gray(image)
  mask = (nested_side(gray, polarity, context) if context else
          object_side(gray, polarity, radius))
  mask = morphology.remove_small_holes(mask, max_size=max(1, int(0.05 * np.pi * radius ** 2)))
  return split_mask(mask, radius, min_area=0.5 if context else 0.25)
