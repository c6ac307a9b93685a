"""The demo dataset (data_prep.demo, make demo) from sample images shipped inside scikit-image: no
download.

Objects with exact masks over natural photos: the silhouette of `skimage.data.horse()`, randomly
stretched, rotated, scaled, placed and flipped, filled with a texture cut from a colour photo (`chelsea`,
`astronaut`), over a crop of another photo (`grass`, `gravel`, `brick` in a random tint, `rocket`,
`coffee`). `make_demo_set` writes

  <out_dir>/cub/          the CUB-200-2011 layout (images.txt, bounding_boxes.txt with the tight box of
                          every mask, train_test_split.txt, images/, segmentations/), for data_prep.cub;
  <out_dir>/backgrounds/  other crops of the background photos, for data_prep.backgrounds.
"""
import os
import shutil

import numpy as np
from PIL import Image

from ind_prior_tf.errors import DataError

FOREGROUNDS = ("chelsea", "astronaut")
BACKGROUNDS = ("grass", "gravel", "brick", "rocket", "coffee")
TINTS = ((0.55, 0.85, 0.45), (0.9, 0.8, 0.6), (0.75, 0.75, 0.8), (0.6, 0.7, 0.9), (1.0, 1.0, 1.0))


def _photo(name):
  from skimage import data  # pylint: disable=g-import-not-at-top
  image = getattr(data, name)()
  return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]


def _silhouette():
  """The horse of skimage.data.horse() (True where the horse is), cut to its tight box."""
  from skimage import data  # pylint: disable=g-import-not-at-top
  mask = ~data.horse()
  ys, xs = np.nonzero(mask)
  return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _crop(rng, photo, side):
  """A random square crop of `side` px (or the whole short side when smaller), resized to side."""
  h, w = photo.shape[:2]
  s = int(min(h, w, rng.uniform(0.5, 1.0) * min(h, w)))
  y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
  tile = Image.fromarray(np.ascontiguousarray(photo[y:y + s, x:x + s]))
  return np.asarray(tile.resize((side, side), Image.BILINEAR), np.float32)


def _background(rng, photos, side):
  name = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
  tile = _crop(rng, photos[name], side)
  if name in ("grass", "gravel", "brick"):  # grey textures: a random natural tint
    tile = tile * np.asarray(TINTS[rng.integers(len(TINTS))], np.float32)
  return tile


def make_example(rng, photos, silhouette, size):
  """One image (uint8 [size, size, 3]) and its exact mask (bool [size, size])."""
  h, w = silhouette.shape
  aspect = rng.uniform(0.75, 1.3)
  scale = rng.uniform(0.45, 0.8) * size / max(h, w * aspect)
  shape = Image.fromarray(silhouette.astype(np.uint8) * 255)
  shape = shape.resize((max(8, int(w * aspect * scale)), max(8, int(h * scale))), Image.NEAREST)
  shape = shape.rotate(rng.uniform(-15, 15), resample=Image.NEAREST, expand=True)
  if rng.random() < 0.5:
    shape = shape.transpose(Image.FLIP_LEFT_RIGHT)
  obj = np.asarray(shape) > 127
  oh, ow = min(obj.shape[0], size), min(obj.shape[1], size)
  obj = obj[:oh, :ow]
  y, x = rng.integers(0, size - oh + 1), rng.integers(0, size - ow + 1)
  mask = np.zeros((size, size), bool)
  mask[y:y + oh, x:x + ow] = obj
  fill = _crop(rng, photos[FOREGROUNDS[rng.integers(len(FOREGROUNDS))]], size)
  image = np.where(mask[:, :, None], fill, _background(rng, photos, size))
  return np.clip(np.round(image), 0, 255).astype(np.uint8), mask


def write_demo(out_dir, count, size, background_images, seed):
  """Writes the CUB-layout set and the background photos; returns the number of images."""
  rng = np.random.default_rng(seed)
  photos = {name: _photo(name) for name in FOREGROUNDS + BACKGROUNDS}
  silhouette = _silhouette()
  cub = os.path.join(out_dir, "cub")
  for sub in ("images/001.Horse", "segmentations/001.Horse"):
    os.makedirs(os.path.join(cub, sub), exist_ok=True)
  lines = {"images.txt": [], "bounding_boxes.txt": [], "train_test_split.txt": [],
           "image_class_labels.txt": []}
  for i in range(1, count + 1):
    image, mask = make_example(rng, photos, silhouette, size)
    rel = f"001.Horse/demo{i:04d}"
    Image.fromarray(image).save(os.path.join(cub, "images", rel + ".jpg"), quality=95)
    Image.fromarray(mask.astype(np.uint8) * 255).save(os.path.join(cub, "segmentations", rel + ".png"))
    ys, xs = np.nonzero(mask)
    box = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    lines["images.txt"].append(f"{i} {rel}.jpg")
    lines["bounding_boxes.txt"].append(f"{i} " + " ".join(f"{v:.1f}" for v in box))
    lines["train_test_split.txt"].append(f"{i} {int(i <= count * 3 // 4)}")
    lines["image_class_labels.txt"].append(f"{i} 1")
  for name, rows in lines.items():
    with open(os.path.join(cub, name), "w") as f:
      f.write("\n".join(rows) + "\n")
  with open(os.path.join(cub, "classes.txt"), "w") as f:
    f.write("1 001.Horse\n")
  bg_dir = os.path.join(out_dir, "backgrounds")
  os.makedirs(bg_dir, exist_ok=True)
  for i in range(background_images):
    tile = np.clip(np.round(_background(rng, photos, size)), 0, 255).astype(np.uint8)
    Image.fromarray(tile).save(os.path.join(bg_dir, f"bg{i:03d}.png"))
  return count


def make_demo_set(out_dir, count=400, size=160, background_images=60, seed=0, overwrite=False):
  """write_demo into out_dir, refusing a non-empty out_dir unless overwrite (then it is replaced).
  Returns {"count", "cub", "backgrounds"}: the number of images and the two folders written."""
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    if not overwrite:
      raise DataError(f"{out_dir}: exists and is not empty (pass --overwrite to replace it)")
    shutil.rmtree(out_dir)
  n = write_demo(out_dir, count, size, background_images, seed)
  return dict(count=n, cub=os.path.join(out_dir, "cub"),
              backgrounds=os.path.join(out_dir, "backgrounds"))
