"""Foreground segmentation scores on box crops (numpy, threshold 0.5).

The protocol of docs/fgseg.md (Evaluation): predicted soft masks and ground-truth masks are both
binarised at 0.5 on the box crops, then
  * mean per-image foreground IoU: the IoU of every image's foreground, averaged over images (an image
    whose ground truth and prediction are both empty scores 1);
  * dataset mIoU: foreground and background IoU, each from intersections and unions summed over the whole
    dataset, then averaged (the PASCAL-VOC style mean over the two classes);
  * pixel accuracy over all pixels of all images.
"""
import dataclasses

import numpy as np

THRESHOLD = 0.5


def binarize(masks, threshold=THRESHOLD):
  """Soft masks [N, H, W(, 1)] -> bool [N, H*W]; values >= threshold are foreground."""
  masks = np.asarray(masks)
  return masks.reshape(masks.shape[0], -1) >= threshold


def per_image_fg_iou(pred, gt, threshold=THRESHOLD):
  """Foreground IoU of every image: [N] (1 where both prediction and ground truth are empty)."""
  p, g = binarize(pred, threshold), binarize(gt, threshold)
  inter = np.sum(p & g, axis=1)
  union = np.sum(p | g, axis=1)
  return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


@dataclasses.dataclass
class SegCounts:
  """Pixel counts accumulated over batches, so that scores never need all masks in memory."""
  fg_inter: int = 0
  fg_union: int = 0
  bg_inter: int = 0
  bg_union: int = 0
  correct: int = 0
  pixels: int = 0
  iou_sum: float = 0.0
  images: int = 0

  def update(self, pred, gt, threshold=THRESHOLD):
    p, g = binarize(pred, threshold), binarize(gt, threshold)
    self.fg_inter += int(np.sum(p & g))
    self.fg_union += int(np.sum(p | g))
    self.bg_inter += int(np.sum(~p & ~g))
    self.bg_union += int(np.sum(~p | ~g))
    self.correct += int(np.sum(p == g))
    self.pixels += p.size
    self.iou_sum += float(np.sum(per_image_fg_iou(pred, gt, threshold)))
    self.images += p.shape[0]
    return self

  def scores(self):
    if not self.images:
      raise ValueError("no images were scored")
    fg = self.fg_inter / self.fg_union if self.fg_union else 1.0
    bg = self.bg_inter / self.bg_union if self.bg_union else 1.0
    return {"fg_iou": self.iou_sum / self.images, "miou": (fg + bg) / 2,
            "pixel_acc": self.correct / self.pixels, "fg_iou_dataset": fg, "bg_iou_dataset": bg,
            "images": self.images}


def segmentation_scores(pred, gt, threshold=THRESHOLD):
  """All scores for soft masks pred and gt [N, H, W(, 1)]: a dict with fg_iou (mean per image), miou,
  pixel_acc, and the dataset-level fg_iou_dataset / bg_iou_dataset it averages, and images."""
  return SegCounts().update(pred, gt, threshold).scores()
