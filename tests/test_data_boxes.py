"""ind_prior_tf.data.boxes: the one clip of a box, and box crops."""

import numpy as np
import pytest

from ind_prior_tf.data import boxes
from ind_prior_tf.errors import DataError, EmptyBoxError
from tests.data_fixtures import RED, rect_image


def test_crop_box_content_and_mask():
  image = rect_image(40, 30, (8, 6, 16, 12))
  mask = np.zeros((30, 40), np.float32)
  mask[6:18, 8:16] = 1.0  # Left half of the box.
  crop, m = boxes.crop_box(image, (8, 6, 16, 12), 32, mask)
  assert crop.dtype == np.uint8 and crop.shape == (32, 32, 3)
  assert (crop == np.array(RED, np.uint8)).all()  # Exactly the rectangle.
  assert m.dtype == np.float32 and m.shape == (32, 32)
  assert (m[:, :15] == 1).all() and (m[:, 17:] == 0).all()
  assert 0 <= m.min() and m.max() <= 1


def test_crop_box_clip_and_empty():
  image = rect_image(40, 30, (30, 20, 10, 10))
  crop, m = boxes.crop_box(image, (30, 20, 25, 25), 16)  # Clipped to 10x10.
  assert m is None and (crop == np.array(RED, np.uint8)).all()
  crop, _ = boxes.crop_box(image, (-5, -5, 50, 50), 8)  # Whole image.
  assert crop.shape == (8, 8, 3)
  with pytest.raises(EmptyBoxError, match="zero area"):
    boxes.crop_box(image, (1, 1, 0, 5), 8)
  with pytest.raises(EmptyBoxError, match="outside"):
    boxes.crop_box(image, (100, 1, 5, 5), 8)
  assert issubclass(EmptyBoxError, DataError)
  assert issubclass(DataError, ValueError)


def test_clip_box_is_the_one_clip_of_crops_segmenting_and_grabcut():
  assert boxes.clip_box((10.5, 3, 5, 7.2), 100, 50) == (10, 3, 16, 11)  # edges widened outwards
  assert boxes.clip_box((-5, -5, 20, 1000), 100, 50) == (0, 0, 15, 50)
  # A non-finite box is an empty one (read_cub and read_celeba already refuse such numbers).
  for bad in [(float("nan"), 0, 5, 5), (0, 0, float("inf"), 5), (0, 0, float("nan"), 5)]:
    with pytest.raises(EmptyBoxError, match="zero area"):
      boxes.clip_box(bad, 100, 50)
  with pytest.raises(EmptyBoxError, match=r"my.jpg: box \(200, 0, 5, 5\) is outside the 100x50 image"):
    boxes.clip_box((200, 0, 5, 5), 100, 50, name="my.jpg")
