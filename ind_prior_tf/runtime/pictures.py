"""Image grids for TensorBoard and PNG files."""
import os

import numpy as np
import tensorflow as tf


def image_grid(rows, pad=2):
  """Tiles a list of same-length image batches [n, H, W, C] into one [1, rows*H, n*W, 3] picture.

  Each entry of `rows` is one row of the picture; single-channel batches are shown in grey.
  """
  tiles = []
  for images in rows:
    images = np.asarray(images, np.float32)
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)
    images = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=1.0)
    tiles.append(np.concatenate(list(images), axis=1))
  return np.clip(np.concatenate(tiles, axis=0)[None], 0.0, 1.0)


def save_png(path, grid):
  """Writes an image_grid (or any [H, W, 3] float image in [0, 1]) to a PNG file."""
  grid = np.asarray(grid)
  if grid.ndim == 4:
    grid = grid[0]
  data = tf.io.encode_png(tf.cast(tf.round(np.clip(grid, 0, 1) * 255), tf.uint8))
  tmp = f"{path}.tmp-{os.getpid()}"
  tf.io.write_file(tmp, data)
  os.replace(tmp, path)
