"""Tiny sets in the CUB and CelebA layouts, a background pool and the tiny fgseg flags: what the tests of
Application 1's entry points (test_fgseg_e2e, test_faults) share."""
import os

import numpy as np
from PIL import Image

from ind_prior_tf.data import images, pools
from tests import entry

TINY = ["--preset=tiny", "--image_size=64", "--width=0.125", "--d_width=0.125", "--batch_size=4",
        "--progress=false"]


def object_image(rng, w, h):
  """A red ellipse (the object) on a noisy green background; returns (image, mask, tight box)."""
  yy, xx = np.mgrid[0:h, 0:w]
  cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
  ry, rx = rng.uniform(0.15, 0.3) * h, rng.uniform(0.15, 0.3) * w
  mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
  image = np.stack([40 + 30 * rng.random((h, w)), 110 + 60 * rng.random((h, w)),
                    40 + 30 * rng.random((h, w))], -1)
  image[mask] = [200, 40, 40] + 20 * rng.random((mask.sum(), 3))
  ys, xs = np.nonzero(mask)
  box = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
  return image.astype(np.uint8), mask, box


def make_cub(root, n=12, seed=0):
  """The CUB-200-2011 layout; ids 1..n-4 are train images with masks, the rest test without."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "images", "001.Obj"))
  os.makedirs(os.path.join(root, "segmentations", "001.Obj"))
  lists = {"images.txt": [], "bounding_boxes.txt": [], "train_test_split.txt": []}
  for i in range(1, n + 1):
    image, mask, box = object_image(rng, 88, 72)
    rel = f"001.Obj/obj_{i:03d}"
    Image.fromarray(image).save(os.path.join(root, "images", rel + ".jpg"))
    train = i <= n - 4
    if train:
      Image.fromarray(mask.astype(np.uint8) * 255).save(
          os.path.join(root, "segmentations", rel + ".png"))
    lists["images.txt"].append(f"{i} {rel}.jpg")
    lists["bounding_boxes.txt"].append(f"{i} " + " ".join(str(float(v)) for v in box))
    lists["train_test_split.txt"].append(f"{i} {int(train)}")
  for name, rows in lists.items():
    with open(os.path.join(root, name), "w") as f:
      f.write("\n".join(rows) + "\n")
  return str(root)


def make_celeba(root, n=10, seed=1):
  """The CelebA in-the-wild layout: list_bbox_celeba.txt (count, header, rows) and img_celeba/."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "img_celeba"))
  rows = []
  for i in range(1, n + 1):
    image, _, box = object_image(rng, 80, 96)
    Image.fromarray(image).save(os.path.join(root, "img_celeba", f"{i:06d}.jpg"))
    rows.append(f"{i:06d}.jpg " + " ".join(str(int(v)) for v in box))
  with open(os.path.join(root, "list_bbox_celeba.txt"), "w") as f:
    f.write(f"{n}\nimage_id x_1 y_1 width height\n" + "\n".join(rows) + "\n")
  return str(root)


def make_pool(tmp, size=64, name="pool.npz"):
  """40 patches of three green noise photos, as data_prep.backgrounds --count=40 writes them."""
  folder = os.path.join(tmp, "bg_photos")
  os.makedirs(folder)
  rng = np.random.default_rng(2)
  for i in range(3):
    photo = (rng.random((100, 120, 3)) * [60, 120, 60] + [30, 80, 30]).astype(np.uint8)
    Image.fromarray(photo).save(os.path.join(folder, f"bg{i}.png"))
  pool = os.path.join(tmp, name)
  pools.save_pool(pool, pools.background_patches(images.list_images(folder), size, 40, seed=0))
  return pool


def prepare_cub(root, out_dir, *args):
  """data_prep.cub at 64 px, as a user runs it."""
  return entry.call("data_prep.cub", f"--cub_root={root}", f"--out_dir={out_dir}", "--size=64",
                    *args)
