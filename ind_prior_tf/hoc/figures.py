"""The pictures of a HOC run: grids like the paper's Figures 8-11 (written during training to
<logdir>/figures and TensorBoard) and the sampled masks of the blob score (eval_masks.png)."""
import os

import numpy as np
import tensorflow as tf

from ind_prior_tf.runtime import pictures


def figure_grids(t, max_cols=8, max_layer_rows=4):
  """Image grids like the paper's figures from figure_tensors output.

  overview (Fig. 8): real patches / composites / the top layer's appearance / its soft mask.
  layers (Figs. 9-11): the carved instances of the last `max_layer_rows` layers (one row per layer,
  top layer last), then the composite, then all appearances and masks of the first sample.
  """
  n = min(max_cols, t["real"].shape[0])
  top = t["appearance"].shape[1] - 1
  overview = pictures.image_grid([t["real"][:n], t["composite"][:n], t["appearance"][:n, top],
                                  t["mask"][:n, top]])
  n_layers = t["carved"].shape[1]
  rows = [t["carved"][:n, i] for i in range(max(0, n_layers - max_layer_rows), n_layers)]
  rows += [t["composite"][:n], t["appearance"][:n, top], t["mask"][:n, top]]
  layer_grid = pictures.image_grid(rows)
  # One sample's N layers side by side: appearance, mask, carved.
  k = min(n_layers, max_cols * 2)
  per_layer = pictures.image_grid([t["appearance"][0, :k], t["mask"][0, :k], t["carved"][0, :k]])
  return dict(overview=overview, layers=layer_grid, one_sample=per_layer)


def write_figures(gan, real_pool, bg_pool, logdir, step, writer=None):
  """Figures 8-11 as PNG files in <logdir>/figures (the latest step) and in TensorBoard."""
  grids = figure_grids(gan.figure_tensors(real_pool, bg_pool))
  folder = os.path.join(logdir, "figures")
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for name, grid in grids.items():
    paths[name] = os.path.join(folder, f"{name}.png")
    pictures.save_png(paths[name], grid)
  if writer is not None:
    with writer.as_default(step=step):
      tf.summary.image("figures/overview_real_composite_appearance_mask", grids["overview"],
                       max_outputs=1)
      tf.summary.image("figures/layers_carved_composite_appearance_mask", grids["layers"],
                       max_outputs=1)
      tf.summary.image("figures/one_sample_appearances_masks_carved", grids["one_sample"],
                       max_outputs=1)
  return paths


def eval_masks_grid(generator, z_dim, seed=0, threshold=0.5, count=16):
  """The first `count` layers of codes from `seed`: appearance, soft mask, thresholded mask."""
  rgba = generator(tf.random.Generator.from_seed(seed).uniform([count, z_dim], -1.0, 1.0),
                   training=False).numpy()
  return pictures.image_grid([rgba[..., :3], rgba[..., 3:],
                              (rgba[..., 3:] > threshold).astype(np.float32)])
