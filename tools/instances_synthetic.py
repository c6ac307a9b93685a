"""The counting path's benchmark on synthetic clusters with known labels (docs/results.md).

  python tools/instances_synthetic.py [steps] [samples] [logdir]

A known-shape stand-in for a HOC generator (instances_data.disc_sampler: textured discs at the
layout's random shifts) makes labelled composites; the instance student learns them; then each of
three synthetic cluster images (instances_data.synthetic_cluster, seeds 3-5: 192x256 px, ~60 touching
discs of radius 9-16 px, window 48 px = 1.5x the largest disc) is counted with the sliding windows
and scored. Measures the student, the stitching and the post-processing without a GAN's errors.
Prints one JSON line per image and the means.
"""
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=wrong-import-position
from ind_prior_tf.hoc.instances import data as instances_data
from ind_prior_tf.hoc.instances import infer as instance_infer
from ind_prior_tf.hoc.instances import metrics as instance_metrics
from ind_prior_tf.hoc.instances import student as instances

WINDOW = 48


def main(argv):
  steps = int(argv[1]) if len(argv) > 1 else 1000
  samples = int(argv[2]) if len(argv) > 2 else 2048
  logdir = argv[3] if len(argv) > 3 else tempfile.mkdtemp(prefix="instances_synthetic_")
  t0 = time.time()
  x, y, counts = instances_data.make_dataset(instances_data.disc_sampler(0), samples, None,
                                             min_area=0.01 * 64 ** 2)
  data_s = time.time() - t0
  student = instances.InstanceStudent(instances.StudentConfig())
  result = instances.train(student, x, y, logdir, steps, progress=False, log=lambda _: None)
  print(json.dumps(dict(samples=samples, instances_per_composite=float(counts.mean()),
                        data_seconds=round(data_s, 1), steps=result["step"],
                        train_seconds=round(result["seconds"], 1), losses=result["losses"])))
  predict = instances.predictor(student.network)
  rows = []
  for seed in (3, 4, 5):
    image, truth = instances_data.synthetic_cluster(seed=seed)
    t0 = time.time()
    maps = instance_infer.stitched_maps(image, predict, WINDOW)
    labels = instance_infer.instances_from_maps(maps, WINDOW)
    seconds = time.time() - t0
    s = instance_metrics.instance_scores(labels, truth)
    rows.append(dict(seed=seed, seconds=round(seconds, 2), **s))
    print(json.dumps(rows[-1]))
  mean = {k: float(np.mean([r[k] for r in rows]))
          for k in ("ap", "matched_iou", "abs_count_error", "count_error", "seconds")}
  print(json.dumps(dict(mean=mean)))


if __name__ == "__main__":
  main(sys.argv)
