"""Tiny image sets in the real file layouts (CUB-200-2011, CelebA, INRIA Person, a folder of photos
with EXIF rotations) for the data tests."""

import os

import numpy as np
from PIL import Image

RED = (220, 30, 40)


def rect_image(w, h, box, color=RED, bg=(20, 120, 20)):
  """Background `bg`, a filled rectangle of `color` over box (x, y, w, h)."""
  a = np.empty((h, w, 3), np.uint8)
  a[:] = bg
  x, y, bw, bh = box
  a[y:y + bh, x:x + bw] = color
  return a


def save(path, array_or_image, **kw):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  im = (array_or_image if isinstance(array_or_image, Image.Image)
        else Image.fromarray(array_or_image))
  im.save(path, **kw)


def make_cub(root):
  """A CUB-200-2011 layout with good and bad items.

  id  file                     problem
  1   001.A/rgb.jpg            ok, mask
  2   001.A/gray.jpg           grayscale JPEG, mask
  3   001.A/cmyk.jpg           CMYK JPEG
  4   002.B/wide.png           16-bit grayscale PNG
  5   002.B/rgba.png           RGBA PNG
  6   002.B/trunc.jpg          truncated JPEG         -> unreadable
  7   002.B/random.jpg         random bytes           -> unreadable
  8   002.B/border.jpg         box exceeds the border (clipped), test split
  9   002.B/zero.jpg           zero-area box           -> empty box
  10  002.B/nobox.jpg          id missing from bounding_boxes.txt
  11  002.B/outside.jpg        box fully outside the image -> empty box
  """
  root = str(root)
  img = os.path.join(root, "images")
  seg = os.path.join(root, "segmentations")
  box = (8, 6, 16, 12)  # x, y, w, h
  rgb = rect_image(40, 30, box)
  save(os.path.join(img, "001.A/rgb.jpg"), rgb, quality=95, subsampling=0)
  mask = np.zeros((30, 40), np.uint8)
  mask[9:15, 12:20] = 255  # Inside the box: rows 3..8, cols 4..11 of the crop.
  save(os.path.join(seg, "001.A/rgb.png"), mask)
  gray = np.full((30, 40), 50, np.uint8)
  gray[6:18, 8:24] = 200
  save(os.path.join(img, "001.A/gray.jpg"), gray, quality=95, subsampling=0)
  save(os.path.join(seg, "001.A/gray.png"), mask)
  save(os.path.join(img, "001.A/cmyk.jpg"),
        Image.fromarray(rgb).convert("CMYK"), quality=95, subsampling=0)
  wide = np.full((30, 40), 1000, np.uint16)
  wide[6:18, 8:24] = 65535
  save(os.path.join(img, "002.B/wide.png"), wide)
  rgba = np.concatenate([rgb, np.full((30, 40, 1), 255, np.uint8)], axis=2)
  save(os.path.join(img, "002.B/rgba.png"), rgba)
  good_jpg = os.path.join(img, "002.B/trunc.jpg")
  save(good_jpg, rect_image(64, 64, (4, 4, 40, 40)), quality=95, subsampling=0)
  data = open(good_jpg, "rb").read()
  with open(good_jpg, "wb") as f:
    f.write(data[:len(data) // 2])
  with open(os.path.join(img, "002.B/random.jpg"), "wb") as f:
    f.write(np.random.default_rng(0).bytes(500))
  save(os.path.join(img, "002.B/border.jpg"),
        rect_image(40, 30, (30, 20, 10, 10)), quality=95, subsampling=0)
  for name in ("zero", "nobox", "outside"):
    save(os.path.join(img, f"002.B/{name}.jpg"), rgb, quality=95, subsampling=0)

  files = ["001.A/rgb.jpg", "001.A/gray.jpg", "001.A/cmyk.jpg", "002.B/wide.png",
           "002.B/rgba.png", "002.B/trunc.jpg", "002.B/random.jpg",
           "002.B/border.jpg", "002.B/zero.jpg", "002.B/nobox.jpg",
           "002.B/outside.jpg"]
  boxes = {i: "8 6 16 12" for i in range(1, 12)}
  boxes[8] = "30.0 20.0 25.0 25.0"  # Exceeds right/bottom border.
  boxes[9] = "10 10 0 5"
  boxes[11] = "100 100 10 10"
  del boxes[10]
  with open(os.path.join(root, "images.txt"), "w") as f:
    f.writelines(f"{i} {p}\n" for i, p in enumerate(files, 1))
  with open(os.path.join(root, "bounding_boxes.txt"), "w") as f:
    f.writelines(f"{i} {b}\n" for i, b in boxes.items())
  with open(os.path.join(root, "train_test_split.txt"), "w") as f:
    f.writelines(f"{i} {0 if i == 8 else 1}\n" for i in range(1, 12))
  return root


def make_celeba(root, n=5, partition=True):
  root = str(root)
  os.makedirs(os.path.join(root, "img_celeba"))
  lines = [f"{n}\n", "image_id x_1 y_1 width height\n"]
  for i in range(1, n + 1):
    name = f"{i:06d}.jpg"
    box = (5 + i, 4, 20, 24)
    save(os.path.join(root, "img_celeba", name), rect_image(48, 40, box),
          quality=95, subsampling=0)
    lines.append(f"{name} {box[0]} {box[1]} {box[2]} {box[3]}\n")
  with open(os.path.join(root, "list_bbox_celeba.txt"), "w") as f:
    f.writelines(lines)
  if partition:
    with open(os.path.join(root, "list_eval_partition.txt"), "w") as f:
      f.writelines(f"{i:06d}.jpg {[0, 0, 0, 1, 2][(i - 1) % 5]}\n"
                   for i in range(1, n + 1))
  return root


def make_inria(root):
  """The INRIA Person archive's layout (INRIAPerson.tar): negatives in Train/neg and Test/neg, in
  several formats, beside positives (RED people) and list files that a pool must never read.

  Train/neg: a.png (RGB), b.jpg, c.JPG (upper-case name), d.tif (grayscale), e.bmp, broken.png
  (random bytes -> unreadable); Test/neg: f.gif (palette), g.webp. The negatives' red channel is at
  most 85 before compression; the positives are pure RED, so a patch with a mean red near 220 came
  from a positive. Returns the paths of the negatives, in listing order."""
  rng = np.random.default_rng(5)

  def neg(h, w):
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[..., 0] //= 3  # little red
    return a

  negs = []
  for name in ("a.png", "b.jpg", "c.JPG", "e.bmp"):
    save(os.path.join(root, "Train", "neg", name), neg(30 + len(negs) * 7, 44))
    negs.append(os.path.join(root, "Train", "neg", name))
  save(os.path.join(root, "Train", "neg", "d.tif"), Image.fromarray(neg(40, 33)[..., 0]))
  negs.append(os.path.join(root, "Train", "neg", "d.tif"))
  with open(os.path.join(root, "Train", "neg", "broken.png"), "wb") as f:
    f.write(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
  negs.append(os.path.join(root, "Train", "neg", "broken.png"))
  save(os.path.join(root, "Test", "neg", "f.gif"),
       Image.fromarray(neg(36, 36)).quantize(16))
  save(os.path.join(root, "Test", "neg", "g.webp"), neg(28, 50), lossless=True)
  negs += [os.path.join(root, "Test", "neg", n) for n in ("f.gif", "g.webp")]
  person = rect_image(64, 128, (0, 0, 64, 128))
  for sub in ("Train/pos", "Test/pos", "96X160H96/Train/pos", "70X134H96/Test/pos"):
    save(os.path.join(root, sub, "crop001001.png"), person)
  for split in ("Train", "Test"):
    for kind in ("neg", "pos"):
      with open(os.path.join(root, split, f"{kind}.lst"), "w") as f:
        f.write(f"{split}/{kind}/x.png\n")
  return sorted(negs[:6]) + negs[6:]


# A folder of photos (make_photo_folder): each 40x30 upright, the object on BOX.
W, H = 40, 30
BOX = (8, 6, 16, 12)  # x, y, w, h in the upright image
ORIENTATION = 0x0112


def upright(seed=0):
  """A 40x30 photo: a red rectangle on the box over green, a little noise so that crops differ."""
  a = rect_image(W, H, BOX).astype(np.int16)
  a += np.random.default_rng(seed).integers(-10, 11, a.shape).astype(np.int16)
  return np.clip(a, 0, 255).astype(np.uint8)


def save_rotated(path, image, orientation):
  """Saves `image` as a camera would: the pixels stored turned, an EXIF tag saying how to show them."""
  stored = {6: np.rot90(image, 1), 8: np.rot90(image, -1), 3: np.rot90(image, 2)}[orientation]
  exif = Image.Exif()
  exif[ORIENTATION] = orientation
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif)


def make_photo_folder(root):
  """photos/: a.png (EXIF 6), b.jpg (EXIF 8), c.webp, broken.jpg (a link to nothing), notes.txt,
  sub/d.tif, sub/e.gif; masks/ for a and sub/d; boxes.csv for a and sub/d (the others: whole)."""
  root = str(root)
  photos = os.path.join(root, "photos")
  save_rotated(os.path.join(photos, "a.png"), upright(1), 6)
  save_rotated(os.path.join(photos, "b.jpg"), upright(2), 8)
  Image.fromarray(upright(3)).save(os.path.join(photos, "c.webp"), lossless=True)
  os.makedirs(os.path.join(photos, "sub"))
  Image.fromarray(upright(4)).save(os.path.join(photos, "sub", "d.tif"))
  Image.fromarray(upright(5)).save(os.path.join(photos, "sub", "e.gif"))
  os.symlink(os.path.join(root, "nowhere.jpg"), os.path.join(photos, "broken.jpg"))
  with open(os.path.join(photos, "notes.txt"), "w") as f:
    f.write("taken in the park\n")
  mask = np.zeros((H, W), np.uint8)
  mask[BOX[1]:BOX[1] + BOX[3], BOX[0]:BOX[0] + BOX[2]] = 255
  masks = os.path.join(root, "masks")
  os.makedirs(os.path.join(masks, "sub"))
  Image.fromarray(mask).save(os.path.join(masks, "a.png"))
  Image.fromarray(mask).save(os.path.join(masks, "sub", "d.png"))
  with open(os.path.join(root, "boxes.csv"), "w") as f:
    f.write("name,x,y,w,h\n" + "".join(f"{n},{','.join(map(str, BOX))}\n"
                                      for n in ("a.png", "sub/d.tif")))
  return photos
