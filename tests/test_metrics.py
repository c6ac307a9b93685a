import numpy as np
import pytest

from ind_prior_tf.apply import metrics


def masks(*rows):
  """Hand-made binary masks from strings: '#' foreground, '.' background -> [N, H, W, 1]."""
  return np.asarray([[[c == "#" for c in line] for line in m.split()] for m in rows],
                    np.float32)[..., None]


GT = masks("##.. ##.. .... ....", ".... .... .... ....")
PRED = masks("###. ###. .... ....", ".... .... .... ..##")


def test_per_image_iou_and_empty_convention():
  iou = metrics.per_image_fg_iou(PRED, GT)
  np.testing.assert_allclose(iou, [4 / 6, 0.0])
  # Both empty counts 1; threshold 0.5 is inclusive.
  assert metrics.per_image_fg_iou(masks("...."), masks("....")).tolist() == [1.0]
  soft = np.full((1, 2, 2, 1), 0.5, np.float32)
  assert metrics.per_image_fg_iou(soft, np.ones_like(soft)).tolist() == [1.0]
  assert metrics.per_image_fg_iou(soft - 0.01, np.ones_like(soft)).tolist() == [0.0]


def test_dataset_scores_sum_over_the_dataset():
  s = metrics.segmentation_scores(PRED, GT)
  assert s["images"] == 2
  assert s["fg_iou"] == pytest.approx((4 / 6 + 0) / 2)
  # fg: intersection 4, union 6 + 2 = 8; bg: of 32 pixels 28 are true bg, 24 predicted bg (all true).
  assert s["fg_iou_dataset"] == pytest.approx(4 / 8)
  assert s["bg_iou_dataset"] == pytest.approx(24 / 28)
  assert s["miou"] == pytest.approx((4 / 8 + 24 / 28) / 2)
  assert s["pixel_acc"] == pytest.approx(28 / 32)


def test_accumulating_batches_equals_one_call():
  counts = metrics.SegCounts().update(PRED[:1], GT[:1]).update(PRED[1:], GT[1:])
  assert counts.scores() == metrics.segmentation_scores(PRED, GT)


def test_whole_box_gives_half_the_fg_iou_as_miou():
  rng = np.random.default_rng(0)
  gt = (rng.random((5, 8, 8, 1)) < 0.4).astype(np.float32)
  s = metrics.segmentation_scores(np.ones_like(gt), gt)
  assert s["bg_iou_dataset"] == 0.0
  assert s["miou"] == pytest.approx(s["fg_iou_dataset"] / 2)
  assert s["pixel_acc"] == pytest.approx(gt.mean())
  assert s["fg_iou"] == pytest.approx(gt.reshape(5, -1).mean(1).mean())


def test_perfect_prediction_and_no_images():
  s = metrics.segmentation_scores(GT, GT)
  assert s["fg_iou"] == 1.0 and s["miou"] == 1.0 and s["pixel_acc"] == 1.0
  with pytest.raises(ValueError):
    metrics.SegCounts().scores()
