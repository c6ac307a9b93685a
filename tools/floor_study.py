"""Per-image masks for studying when to trust a run's recipe over GrabCut from the box alone: for
each masked crop of a prepared set, the ground truth, the network's mask (as the recipe averages it),
the recipe's final mask and GrabCut from the box (baselines.grabcut_box), saved to one .npz with the
crops' ids. No score is printed: the study reads the arrays.

  python tools/floor_study.py --run_dir=runs/horse-refine/ensemble --prepared=prepared/horse \
      --out=/tmp/floor_horse.npz
"""
import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--run_dir", required=True)
  p.add_argument("--prepared", required=True)
  p.add_argument("--split", default="all")
  p.add_argument("--out", required=True)
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--recipe", default=None, help="a postprocess.json (default: the run's own)")
  args = p.parse_args(argv)
  from ind_prior_tf.apply import baselines  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.apply import load as segmenter
  from ind_prior_tf.data import prepared  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.postprocess import grabcut
  from ind_prior_tf.postprocess import stage as postprocess
  unet, _, _ = segmenter.load_run_segmenter(args.run_dir)
  post = (postprocess.read_file(args.recipe, "--recipe") if args.recipe else
          postprocess.run_recipe(args.run_dir)) or postprocess.PostConfig()
  if post.grabcut_floor:  # the study compares the recipe before the floor with GrabCut's cut
    post = dataclasses.replace(post, grabcut_floor=False)
  predict = lambda x: segmenter.predict(unet, x, flip_average=post.flip_average,
                                        shift_average=post.shift_average, clip_input=False).numpy()
  index = prepared.raw_record_index(args.prepared)
  out = {k: [] for k in ("ids", "truth", "network", "recipe", "grabcut", "crops")}
  ds = prepared.prepared_dataset(args.prepared, args.split, only_with_masks=True)
  for batch in ds.batch(args.batch_size):
    ids = batch["id"].numpy()
    photos = [grabcut.photo_and_box(r) for r in prepared.raw_records(args.prepared, ids,
                                                                      index=index)]
    network, final = postprocess.run_batch(post, predict, batch["image"], photos)
    size = final.shape[1]
    out["grabcut"].append(np.stack([baselines.grabcut_box(ph, reg, size)[..., None]
                                    for ph, reg in photos]))
    out["ids"].append(ids)
    out["truth"].append(batch["mask"].numpy())
    out["network"].append(network)
    out["recipe"].append(final)
    out["crops"].append((batch["image"].numpy() * 255).round().astype(np.uint8))
    print(f"{sum(len(i) for i in out['ids'])} crops", flush=True)
  np.savez_compressed(args.out, **{k: np.concatenate(v) for k, v in out.items()})


if __name__ == "__main__":
  main()
