"""Settings for a cluster photo nobody tuned on, read from the photo itself (numpy, SciPy,
scikit-image; no TensorFlow): which side of a threshold the objects are on (polarity), how large
they are, how densely they lie, and what the ground between them looks like.

- Polarity. The photo is smoothed and cut at Otsu's threshold. For each side taken as the objects,
  the classical split (cluster_baseline.split_mask: distance-transform peaks and a watershed) gives
  regions; real objects come out as compact, solid regions of similar size, while the ground between
  objects comes out as irregular, concave pieces. The side whose regions are the more solid (area
  weighted median solidity) is the objects.
- Objects inside larger ones (nuclei inside cells on a bright slide). Within each side, the pixels
  that stand out from their surroundings (baseline.nested_side, a neighbourhood of half the side's
  first radius) are candidates too, when they are at least as many regions as the side's and cover
  under a third of it (a nucleus is a small part of its cell; the texture inside touching objects
  splits them about evenly). Whichever candidate's regions are the most solid is the objects. (The
  rule was chosen on the dev half of the DSB nuclei, docs/results.md; before it, on brightfield
  slides, the cells were counted.)
- Size. The object side's distance transform: the largest inscribed radius of each region of the
  split, their median (`radius`, the scale of the classical split), and the regions' areas: their
  median and the 90th percentile of their equivalent radius sqrt(area / pi) (`radius_hi`).
- Window (the HOC run's, 1.5x the largest instance, docs/hoc.md): 3 * radius_hi, at least 16 px.
  Area target a: the median object area over the window's area (a share of a patch, the same at
  64 px). Layers: the objects a window holds on average (the object side's share of the photo times
  the window's area over the median object area), 2 to 4.
- Ground (`ground_image`): the photo with its objects painted out, for composites whose ground looks
  like the photo's: each object pixel (the object side, dilated) gets the ground's local mean (a
  normalised Gaussian convolution of the ground pixels, wider where the holes are wide) plus a
  residual drawn from the ground's own pixels, so that its noise is the photo's noise.
"""
import dataclasses

import numpy as np

from ind_prior_tf import choices
from ind_prior_tf.hoc.instances.baseline import nested_side, side_mask, split_mask, to_gray  # pylint: disable=unused-import

POLARITIES = choices.POLARITIES
MIN_WINDOW = 16
NESTED_SHARE = 1 / 3    # most of a container a nested candidate may cover
NESTED_CONTEXT = 0.5    # the nested candidate's neighbourhood, in first radii of its container


def first_radius(mask):
  """The inscribed radius of the mask's connected parts, area-weighted median (px): a first scale
  before any split (touching objects merge, but the largest disc inside them is still one object's),
  robust to specks of noise, which weigh little."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  labels, n = ndimage.label(mask)
  if not n:
    return 0.0
  dist = ndimage.distance_transform_edt(mask)
  peaks = np.asarray(ndimage.maximum(dist, labels, np.arange(1, n + 1)))
  areas = np.bincount(labels.ravel())[1:]
  return weighted_median(peaks, areas)


def weighted_median(values, weights):
  values, weights = np.asarray(values, np.float64), np.asarray(weights, np.float64)
  if not len(values):
    return 0.0
  order = np.argsort(values)
  cum = np.cumsum(weights[order])
  return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


@dataclasses.dataclass
class Estimate:
  """What estimate() read from a photo (px of the photo)."""
  polarity: str          # "bright" (objects brighter than the ground) or "dark"
  radius: float          # median inscribed radius of the objects
  radius_hi: float       # 90th percentile of the objects' equivalent radius
  object_area: float     # median object area
  object_share: float    # share of the photo on the object side
  objects: int           # regions of the classical split (a first count)
  window: int            # HOC window, 1.5x the largest object
  area_target: float     # a: median object area over the window's area
  n_layers: int          # objects a window holds on average, 2-4
  solidity: dict         # polarity -> the area-weighted median solidity of its regions
  threshold: float       # Otsu's threshold of the smoothed grey photo, in [0, 1]
  context: float = 0.0   # objects inside larger ones: their neighbourhood's scale (px); 0 if not

  def summary(self):
    inside = f" inside larger {self.polarity} regions" if self.context else ""
    return (f"objects {self.polarity}{inside} on "
            f"{'dark' if self.polarity == 'bright' else 'bright'}, "
            f"radius {self.radius:.1f} px (90th percentile {self.radius_hi:.1f}), about "
            f"{self.objects} of them covering {self.object_share:.2f} of the photo -> window "
            f"{self.window} px, a {self.area_target:.3f}, {self.n_layers} layers")


def _solidity(labels):
  from skimage import measure  # pylint: disable=g-import-not-at-top
  props = measure.regionprops(labels)
  return weighted_median([p.solidity for p in props], [p.area for p in props]) if props else 0.0


def _regions_of(gray, polarity):
  """The candidates of one polarity, as (context, object mask, labels of the classical split,
  solidity, first radius, threshold): the side itself, and the objects inside its regions when
  they qualify (module doc)."""
  mask, t = side_mask(gray, polarity)
  r0 = max(first_radius(mask), 1.0)
  labels = split_mask(mask, r0)
  out = [(0.0, mask, labels, _solidity(labels), r0, t)]
  context = NESTED_CONTEXT * r0
  inner = nested_side(gray, polarity, context)
  if inner.any() and inner.sum() < NESTED_SHARE * mask.sum():
    r1 = max(first_radius(inner), 1.0)
    # Specks under a disc of the inner radius (the containers' texture) do not count here.
    inner_labels = split_mask(inner, r1, min_area=1.0)
    if inner_labels.max() >= labels.max():
      out.append((context, inner, inner_labels, _solidity(inner_labels), r1, t))
  return out


def estimate(image, polarity="auto"):
  """An Estimate of the photo (uint8 [H, W, 3] or grey [H, W]); polarity "auto" picks the
  candidate whose split regions are the most solid (see the module doc)."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  gray = to_gray(image)
  cands = {p: _regions_of(gray, p) for p in (("bright", "dark") if polarity == "auto"
                                              else (polarity,))}
  solidity = {p: round(float(v[0][3]), 3) for p, v in cands.items()}
  chosen, best = max(((p, c) for p, v in cands.items() for c in v), key=lambda pc: pc[1][3])
  context, mask, labels, _, r0, threshold = best
  n = int(labels.max())
  if n:
    # Inscribed radius of each region, measured inside the region (its neighbours are outside).
    inner = np.asarray(ndimage.maximum(_region_distance(labels), labels, np.arange(1, n + 1)))
    areas = np.bincount(labels.ravel())[1:].astype(np.float64)
    radius = float(np.median(inner))
    # The window must hold the largest objects whole: their extent, not their inscribed disc.
    radius_hi = float(np.percentile(np.sqrt(areas / np.pi), 90))
    object_area = float(np.median(areas))
  else:
    radius = radius_hi = r0
    object_area = np.pi * r0 ** 2
  radius, radius_hi = max(radius, 1.0), max(radius_hi, radius, 1.0)
  h, w = gray.shape
  window = int(min(max(MIN_WINDOW, round(3.0 * radius_hi)), min(h, w)))
  share = float(mask.mean())
  area_target = float(np.clip(object_area / window ** 2, 0.02, 0.5))
  n_layers = int(np.clip(round(share * window ** 2 / max(object_area, 1.0)), 2, 4))
  return Estimate(chosen, radius, radius_hi, object_area, share, n, window, area_target, n_layers,
                  solidity, threshold, round(float(context), 2))


def _region_distance(labels):
  """Each labelled pixel's distance to the nearest pixel of another label or the background."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  from skimage import segmentation  # pylint: disable=g-import-not-at-top
  edges = segmentation.find_boundaries(labels, mode="inner")
  return ndimage.distance_transform_edt((labels > 0) & ~edges) + (labels > 0)


def object_side(image, est):
  """bool [H, W]: the photo's object side under est (the threshold's side, or the objects inside
  larger regions when est.context is set), before any dilation."""
  gray = to_gray(image)
  if est.context:
    return nested_side(gray, est.polarity, est.context)
  return side_mask(gray, est.polarity)[0]


def object_mask(image, est, grow=None):
  """bool [H, W]: object_side dilated by `grow` px (default a quarter radius, at least 1), so that
  the objects' soft rims count as objects."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  mask = object_side(image, est)
  grow = max(1, int(round(est.radius / 4))) if grow is None else grow
  return ndimage.binary_dilation(mask, iterations=grow) if grow else mask


def ground_image(image, est=None, seed=0):
  """uint8 [H, W, 3]: the photo with its objects painted out by its own ground (module doc)."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, -1)
  est = est or estimate(image)
  hole = object_mask(image, est)
  ground = ~hole
  if not ground.any():  # no ground shows: the paper's dense case; its median stands in
    return np.broadcast_to(np.median(image.reshape(-1, 3), 0).astype(np.uint8), image.shape).copy()
  img = image.astype(np.float64)
  mean = np.zeros_like(img)
  filled = np.zeros(hole.shape, bool)
  # Wider Gaussians only where narrower ones found too little ground nearby.
  for sigma in (est.radius, 2 * est.radius, 4 * est.radius, 16 * est.radius):
    weight = ndimage.gaussian_filter(ground.astype(np.float64), sigma)
    todo = ~filled & (weight > 0.05)
    for c in range(3):
      num = ndimage.gaussian_filter(img[..., c] * ground, sigma)
      mean[..., c] = np.where(todo, num / np.maximum(weight, 1e-9), mean[..., c])
    filled |= todo
  mean[~filled] = np.median(img[ground], 0)
  rng = np.random.default_rng(seed)
  residual = (img - mean)[ground]
  out = np.where(ground[..., None], img,
                 mean + residual[rng.integers(len(residual), size=hole.shape)])
  return np.clip(np.round(out), 0, 255).astype(np.uint8)
