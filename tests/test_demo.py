"""The demo dataset (data_prep.demo): sample images of scikit-image in the CUB layout, no download."""
import os

import numpy as np
from PIL import Image

from ind_prior_tf.data import images, raw
from tests import entry


def test_demo_set_is_a_valid_cub_layout_with_exact_boxes(tmp_path):
  out = tmp_path / "demo"
  # A process: data_prep.demo is not on cli.run yet (entry.call needs main(argv) to parse flags).
  r = entry.spawn("data_prep.demo", f"--out_dir={out}", "--count=8", "--size=96",
                  "--background_images=3", timeout=120).ok()
  assert "wrote 8 demo images" in r.out
  records = raw.read_cub(str(out / "cub"))
  assert len(records) == 8 and sum(r.is_train for r in records) == 6
  fractions = []
  for r in records:
    image = images.load_image_rgb(r.image_path)
    mask = images.load_mask(r.mask_path) > 0.5
    assert image.shape == (96, 96, 3) and mask.shape == (96, 96)
    ys, xs = np.nonzero(mask)
    assert r.box == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    x, y, w, h = (int(v) for v in r.box)
    fractions.append(mask[y:y + h, x:x + w].mean())
    # The object is a texture unlike the background around it.
    assert np.abs(image[mask].mean(0) - image[~mask].mean(0)).max() > 5 or image[mask].std() > 20
  assert 0.2 < np.mean(fractions) < 0.6  # a horse fills about 0.4 of its box
  photos = os.listdir(out / "backgrounds")
  assert len(photos) == 3 and Image.open(out / "backgrounds" / photos[0]).mode == "RGB"

  # A second run into the same directory is refused in one line unless --overwrite.
  r = entry.spawn("data_prep.demo", f"--out_dir={out}", "--count=8", timeout=120)
  assert r.code == 2 and r.err.startswith("error: ") and "--overwrite" in r.err
