"""Using trained models outside training.

* Segmenting images of any size: crop by an optional box, resize to the network's input, predict, and
  map the mask back to the image's own resolution and position (`segment_files`, `segment_image`).
* Export: a segmenter (teacher or student run directory) or a HOC instance generator as a TensorFlow
  SavedModel with a serving signature, and as a `.keras` file (`export_run`). Both load without this
  package: `tf.saved_model.load(dir).signatures["serving_default"](images=x)["mask"]`, or
  `keras.models.load_model(file)`.
"""
import json
import math
import os
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from ind_prior_tf import datasets, grabcut, networks, segmenter, training
from ind_prior_tf.training import RunError

# --------------------------------------------------------------------------------------------------
# Segmenting images of any size.


def box_pixels(box, width, height, name="box"):
  """(x, y, w, h) in pixels -> integer (x0, y0, x1, y1) clipped to the image.

  The convention of datasets.crop_box, with which the training crops were made: the box covers columns
  [x, x + w) and rows [y, y + h); fractional edges are widened outwards. Raises datasets.EmptyBoxError
  for a zero-area box or one outside the image.
  """
  x, y, w, h = (float(v) for v in box)
  if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
    raise datasets.EmptyBoxError(f"{name}: empty box {tuple(box)} (zero area)")
  x0, y0 = max(0, int(math.floor(x))), max(0, int(math.floor(y)))
  x1, y1 = min(width, int(math.ceil(x + w))), min(height, int(math.ceil(y + h)))
  if x1 <= x0 or y1 <= y0:
    raise datasets.EmptyBoxError(f"{name}: box {tuple(box)} is outside the {width}x{height} image")
  return x0, y0, x1, y1


def crop_for_segmenter(image, box, size, name="box"):
  """uint8 [H, W, 3] -> (the box crop resized to size x size, uint8; its region (x0, y0, x1, y1)).

  No box: the whole image. PIL bilinear, as the prepared sets were made.
  """
  h, w = image.shape[:2]
  region = (0, 0, w, h) if box is None else box_pixels(box, w, h, name)
  x0, y0, x1, y1 = region
  crop = np.ascontiguousarray(image[y0:y1, x0:x1])
  if crop.shape[:2] != (size, size):
    crop = np.asarray(Image.fromarray(crop, "RGB").resize((size, size), Image.BILINEAR), np.uint8)
  return crop, region


def paste_mask(mask, region, image_shape):
  """A network-size mask [S, S] (or [S, S, 1]) -> float32 [H, W]: resized onto region, 0 outside."""
  mask = np.asarray(mask, np.float32)
  if mask.ndim == 3:
    mask = mask[..., 0]
  x0, y0, x1, y1 = region
  out = np.zeros(image_shape[:2], np.float32)
  if mask.shape != (y1 - y0, x1 - x0):
    mask = np.asarray(Image.fromarray(mask, "F").resize((x1 - x0, y1 - y0), Image.BILINEAR))
  out[y0:y1, x0:x1] = np.clip(mask, 0.0, 1.0)
  return out


def cutout(image, mask):
  """RGBA uint8 [H, W, 4]: the image with the mask as its alpha channel."""
  alpha = np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
  return np.concatenate([image, alpha[..., None]], axis=-1)


def predictor(model, flip_average=False):
  """A callable float32 [B, S, S, 3] in [0, 1] -> numpy masks [B, S, S, 1], traced once per shape.
  flip_average: the mean of the masks of the images and of their mirror images (mirrored back)."""
  fn = tf.function(lambda x: segmenter.masks_of(model, x, flip_average), reduce_retracing=True)
  return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()


def segment_image(predict, image, box, size):
  """One image (uint8 [H, W, 3]) -> its mask float32 [H, W] at the original resolution."""
  crop, region = crop_for_segmenter(image, box, size)
  return paste_mask(predict(crop[None] / np.float32(255.0))[0], region, image.shape)


# Image lists and box files.


def read_image_list(spec, image_root=None):
  """Images to segment: a folder, or a list file. Returns [(key, relative path, path)].

  A folder: every *.jpg/jpeg/png/bmp in it (key = the file name). A list file: one image per line,
  either `<path>` or, as CUB's images.txt, `<image_id> <path>` (key = the id); blank lines and lines
  starting with # are ignored. Relative paths are resolved against image_root; its default is the list
  file's folder, or for `<id> <path>` lists its images/ subfolder when there is one (CUB layout).
  """
  if os.path.isdir(spec):
    return [(os.path.basename(p), os.path.basename(p), p) for p in datasets.list_images(spec)]
  if not os.path.isfile(spec):
    raise datasets.DataError(f"{spec}: no such image folder or list file")
  entries = []
  with open(spec, encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      parts = line.split(maxsplit=1)
      if len(parts) == 2 and parts[0].isdigit():
        entries.append((int(parts[0]), parts[1].strip()))
      else:
        entries.append((None, line))
  if not entries:
    raise datasets.DataError(f"{spec}: no images listed")
  if image_root is None:
    image_root = os.path.dirname(os.path.abspath(spec))
    cub_images = os.path.join(image_root, "images")
    if all(k is not None for k, _ in entries) and os.path.isdir(cub_images):
      image_root = cub_images
  out = []
  for key, rel in entries:
    path = rel if os.path.isabs(rel) else os.path.join(image_root, rel)
    out.append((rel if key is None else key, rel, path))
  return out


def read_boxes(path):
  """A boxes file: lines `<key> <x> <y> <w> <h>` (pixels, CUB convention), key an image id (CUB's
  bounding_boxes.txt) or an image's path as listed / file name. Returns {key: (x, y, w, h)}, integer
  keys as ints."""
  if not os.path.isfile(path):
    raise datasets.DataError(f"{path}: missing boxes file")
  boxes = {}
  with open(path, encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      parts = line.rsplit(maxsplit=4)
      if len(parts) != 5:
        raise datasets.DataError(f"{path}:{lineno}: expected `<key> x y w h`, got {line[:80]!r}")
      try:
        box = tuple(float(v) for v in parts[1:])
      except ValueError:
        raise datasets.DataError(f"{path}:{lineno}: bad numbers {parts[1:]}") from None
      key = int(parts[0]) if parts[0].isdigit() else parts[0]
      if key in boxes:
        raise datasets.DataError(f"{path}:{lineno}: duplicate key {parts[0]!r}")
      boxes[key] = box
  return boxes


def find_box(boxes, key, rel):
  for k in (key, rel, os.path.basename(rel)):
    if k in boxes:
      return boxes[k]
  return None


def output_name(rel):
  """masks/<rel without extension>.png: keeps sub-folders (CUB classes) and never escapes out_dir."""
  rel = os.path.normpath(rel).lstrip(os.sep)
  parts = [p for p in rel.split(os.sep) if p not in ("", ".", "..")]
  return os.path.splitext(os.path.join(*parts))[0] + ".png"


def _write_png(path, array, mode):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}"
  Image.fromarray(array, mode).save(tmp, format="PNG")
  os.replace(tmp, path)


def segment_files(model, items, out_dir, boxes=None, threshold=None, batch_size=16,
                  progress=True, grabcut_iters=0, grabcut_band=0.0, flip_average=False):
  """Segments every (key, rel, path) of items; writes <out_dir>/masks/<rel>.png (8-bit masks) and
  <out_dir>/cutouts/<rel>.png (RGBA, alpha = mask) at each image's original size.

  With boxes ({key: (x, y, w, h)}, see read_boxes) each image is cropped by its box first and its mask
  is 0 outside the box; an image without a box, an empty box, or an unreadable file is reported,
  counted and skipped, and the rest are still done. threshold: None writes soft masks, a value in
  (0, 1) binary ones. grabcut_iters > 0: each mask is refined by that many GrabCut iterations on the
  image around its box (grabcut.refine_mask, with its band=grabcut_band; binary). flip_average: the
  network's mask is the mean of its masks of the crop and its mirror. Returns a datasets.SkipLog
  (also written to <out_dir>/skipped.txt).
  """
  size = model.input_shape[1]
  predict = predictor(model, flip_average)
  skipped = datasets.SkipLog(len(items))
  bar = training.ProgressBar(len(items), every=max(1, len(items) // 20), enabled=progress)
  pending = []  # (rel, image, crop, region)

  def flush():
    if not pending:
      return
    masks = predict(np.stack([p[2] for p in pending]) / np.float32(255.0))
    for (rel, image, _, region), mask in zip(pending, masks):
      if grabcut_iters:
        mask = grabcut.refine_mask(image, region, mask, grabcut_iters, band=grabcut_band)
      full = paste_mask(mask, region, image.shape)
      if threshold is not None:
        full = (full > threshold).astype(np.float32)
      name = output_name(rel)
      _write_png(os.path.join(out_dir, "masks", name),
                 np.round(full * 255.0).astype(np.uint8), "L")
      _write_png(os.path.join(out_dir, "cutouts", name), cutout(image, full), "RGBA")
    pending.clear()

  counted = [0]

  def advance(i):
    for n in range(counted[0] + 1, i + 1):  # every count, so a log file gets its every-k lines
      bar.update(n)
    counted[0] = max(counted[0], i)

  os.makedirs(out_dir, exist_ok=True)
  for i, (key, rel, path) in enumerate(items, 1):
    try:
      box = None
      if boxes is not None:
        box = find_box(boxes, key, rel)
        if box is None:
          raise datasets.DataError(f"{path}: not in the boxes file")
      image = datasets.load_image_rgb(path)
      crop, region = crop_for_segmenter(image, box, size, name=f"{path}: box")
    except datasets.DataError as e:  # EmptyBoxError is one
      reason = ("empty box" if isinstance(e, datasets.EmptyBoxError) else
                "not in boxes file" if box is None and boxes is not None else "unreadable")
      skipped.add(path, reason, str(e))
      print(("\n" if bar.tty else "") + f"skipping {e}", file=sys.stderr, flush=True)
      if not pending:
        advance(i)
      continue
    pending.append((rel, image, crop, region))
    if len(pending) >= batch_size:
      flush()
      advance(i)  # images are counted once written
  flush()
  advance(len(items))
  bar.close()
  skipped.write(os.path.join(out_dir, "skipped.txt"))
  return skipped


# --------------------------------------------------------------------------------------------------
# Export.


def _restore_error(run_dir, e):
  first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
  return RunError(f"{run_dir}: its checkpoint does not fit its flags.json ({first[:200]})")


def load_run_segmenter(run_dir, checkpoint=None):
  """segmenter.load_segmenter, with a checkpoint that does not match flags.json (another width or
  size) or cannot be read reported as one RunError line naming the run directory."""
  try:
    return segmenter.load_segmenter(run_dir, checkpoint)
  except RunError:
    raise
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _restore_error(run_dir, e) from None


def load_generator(run_dir, checkpoint=None):
  """A HOC instance generator from its run directory: flags.json with z_dim, image_size, width and
  upsample, and checkpoints under ckpt/ holding it as `generator`. Returns (generator, config, path)."""
  config = segmenter.read_run_config(run_dir)
  if "z_dim" not in config:
    raise RunError(f"{os.path.join(run_dir, 'flags.json')}: no z_dim; not a generator run")
  generator = networks.instance_generator(int(config["z_dim"]), int(config.get("image_size", 64)),
                                          float(config.get("width", 1.0)),
                                          upsample=config.get("upsample", "deconv"))
  path = checkpoint or segmenter.latest_checkpoint(run_dir)
  try:
    tf.train.Checkpoint(generator=generator).restore(path).expect_partial() \
        .assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _restore_error(run_dir, e) from None
  return generator, config, path


def run_kind(config):
  """'generator' for HOC runs (flags.json has z_dim), 'segmenter' otherwise."""
  return "generator" if "z_dim" in config else "segmenter"


# Input and output names of the serving signatures; any other Keras model is exported as "model".
SIGNATURE_NAMES = {"segmenter": ("images", "mask"), "generator": ("z", "rgba"),
                   "model": ("inputs", "outputs")}


class _Serving(tf.Module):
  """What the SavedModel holds: the model and its signatures."""

  def __init__(self, model, kind):
    super().__init__()
    self.model = model
    shape = list(model.input_shape)
    input_name, output_name = SIGNATURE_NAMES[kind]
    spec = tf.TensorSpec([None] + shape[1:], tf.float32, name=input_name)

    def serve(x):
      return {output_name: self.model(x, training=False)}

    self.serve = tf.function(serve, input_signature=[spec])
    if kind == "segmenter":
      size = shape[1]

      def segment_any_size(images):
        # Whole images of any size: resized to the network's input, masks resized back.
        hw = tf.shape(images)[1:3]
        small = tf.image.resize(images, [size, size], antialias=True)
        masks = self.model(tf.clip_by_value(small, 0.0, 1.0), training=False)
        return {"mask": tf.clip_by_value(tf.image.resize(masks, hw), 0.0, 1.0)}

      self.segment_any_size = tf.function(
          segment_any_size,
          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])


def export_model(model, out_dir, kind="segmenter", metadata=None, overwrite=False):
  """kind: segmenter, generator, or model (any Keras model with one input).

Writes <out_dir>/saved_model (signatures serving_default, and for segmenters segment_any_size)
  and <out_dir>/<kind>.keras, plus export.json describing the inputs. Returns the two paths."""
  if kind not in SIGNATURE_NAMES:
    raise RunError(f"kind={kind!r}: expected one of {sorted(SIGNATURE_NAMES)}")
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    if not overwrite:
      raise RunError(f"{out_dir}: not empty; pass --overwrite or choose another --out_dir")
    shutil.rmtree(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  saved = os.path.join(out_dir, "saved_model")
  module = _Serving(model, kind)
  signatures = {"serving_default": module.serve}
  if kind == "segmenter":
    signatures["segment_any_size"] = module.segment_any_size
  tf.saved_model.save(module, saved, signatures=signatures)
  keras_path = os.path.join(out_dir, f"{kind}.keras")
  model.save(keras_path)
  info = dict(kind=kind, input_shape=list(model.input_shape), output_shape=list(model.output_shape),
              **(metadata or {}))
  input_name, output_name = SIGNATURE_NAMES[kind]
  info["usage"] = (f"tf.saved_model.load('{saved}').signatures['serving_default']"
                   f"({input_name}=x)['{output_name}'], x float32 {info['input_shape']}")
  training.atomic_write_text(os.path.join(out_dir, "export.json"),
                             json.dumps(info, indent=2, default=str))
  return saved, keras_path


def export_run(run_dir, out_dir, kind="auto", overwrite=False):
  """Exports the model of a run directory (a segmenter, or a HOC generator); returns
  (kind, checkpoint, saved_model path, .keras path)."""
  config = segmenter.read_run_config(run_dir)
  kind = run_kind(config) if kind == "auto" else kind
  if kind == "segmenter":
    model, config, ckpt = load_run_segmenter(run_dir)
  elif kind == "generator":
    model, config, ckpt = load_generator(run_dir)
  else:
    raise RunError(f"kind={kind!r}: expected auto, segmenter or generator")
  meta = dict(run_dir=os.path.abspath(run_dir), checkpoint=os.path.abspath(ckpt),
              **{k: config[k] for k in ("image_size", "width", "upsample", "z_dim") if k in config})
  saved, keras_path = export_model(model, out_dir, kind, meta, overwrite)
  return kind, ckpt, saved, keras_path
