"""A floor under the recipe: per image, the recipe's mask or GrabCut from the box alone, whichever
the photo's colours support better (ours; docs/paper.md). No mask is needed to decide.

The recipe (the network, the colour CRF, the guided filter, GrabCut holding the network's sure
pixels) is best where the network knows the category; where it does not (a new look of the object,
a category whose colours already part object and ground), the network's sure pixels hold GrabCut to
its mistake, and GrabCut seeded by the box alone does better. The two are told apart by how well
each mask's two sides differ in colour: a colour-histogram classifier fitted to a mask's inside and
outside within the crop, scored on the crop's own pixels (`separability`: 1 where colour alone
draws the mask, 0.5 where it tells nothing). GrabCut from the box maximises that kind of agreement
by design, so it is taken only where it beats the recipe's by more than `margin`.
"""
import numpy as np

from ind_prior_tf import baselines

BINS = 8  # colour bins per channel: 512 cells, enough for a 128 px crop's 16k pixels
# How much better GrabCut's cut must separate the colours before it replaces the recipe's mask.
# Chosen on the dev halves only (docs/results.md); --floor_margin.
MARGIN = 0.01


def _codes(crops):
  """uint8 or [0, 1] float crops [N, S, S, 3] -> int colour-cell codes [N, S*S]."""
  crops = np.asarray(crops)
  if crops.dtype != np.uint8:
    crops = np.clip(np.round(crops * 255.0), 0, 255).astype(np.uint8)
  q = (crops // (256 // BINS)).astype(np.int64)
  return (q[..., 0] * BINS * BINS + q[..., 1] * BINS + q[..., 2]).reshape(len(crops), -1)


def separability(crops, masks):
  """[N] in [0.5, 1]: how well colour alone tells each mask's inside (>= 0.5) from its outside in
  its crop (the accuracy, on the crop's pixels, of choosing the side whose colour histogram, times
  its share of the crop, is higher); 0.5 for an empty or full mask."""
  codes = _codes(crops)
  inside = np.asarray(masks).reshape(len(codes), -1) >= 0.5
  out = np.empty(len(codes))
  cells = BINS ** 3
  for i, (c, m) in enumerate(zip(codes, inside)):
    if m.all() or not m.any():
      out[i] = 0.5
      continue
    fg = np.bincount(c[m], minlength=cells) + 0.5
    bg = np.bincount(c[~m], minlength=cells) + 0.5
    fg *= m.mean() / fg.sum()
    bg *= (1.0 - m.mean()) / bg.sum()
    out[i] = np.mean((fg[c] > bg[c]) == m)
  return out


def choose(crops, recipe, box_cut, margin):
  """(masks, bool [N] where GrabCut from the box was taken): the box's cut where its separability
  exceeds the recipe's by more than margin, the recipe's mask elsewhere."""
  recipe = np.asarray(recipe, np.float32)
  box_cut = np.asarray(box_cut, np.float32).reshape(recipe.shape)
  take = separability(crops, box_cut) > separability(crops, recipe) + margin
  return np.where(take[:, None, None, None], box_cut, recipe), take


def box_cuts(photos, size):
  """float32 [N, size, size, 1]: GrabCut from each box alone (baselines.grabcut_box, the baseline a
  user compares with) for (photo, box region) pairs, cut to the box and resized as its crop."""
  return np.stack([baselines.grabcut_box(photo, region, size)[..., None]
                   for photo, region in photos]).astype(np.float32)
