"""Every instance of a cluster photo found, masked and counted, from a trained HOC GAN alone.

  python -m experiments.hoc_instances --hoc_run=runs/hoc_coins_cpu                  # its own image
  python -m experiments.hoc_instances --hoc_run=runs/fruit --image=other_fruit.jpg

The first call trains the run's instance student (in <hoc_run>/instance_student, or --student_dir):
--samples composites of the run's generator, each labelled with the visible mask of every instance
it shows (mostly hidden, window-cut and speck instances ignored), teach a small UNet the foreground
and each instance's centreness, with the run's flips. Later calls reuse it. The photo is then read in
--window px windows (default: the run's) every --stride px, the maps stitched, and a seeded watershed
splits the foreground into instances. Writes to --out (default <hoc_run>/instances):
<name>_labels.png (16-bit, one id per instance, at the photo's resolution), <name>_overlay.png and
<name>_instances.csv (id, area, centroid, box), and prints the count. Score against hand-made labels
with experiments/hoc_eval.py --labels. The work is ind_prior_tf/hoc/instances/count.py's.
"""
import dataclasses
import sys

from ind_prior_tf import cli
from ind_prior_tf.hoc.instances.count import CountConfig

F = cli.Flags(__doc__)
F.string("hoc_run", None, "Run directory of experiments/hoc.py (its generator and --window).")
F.string("image", None, "The photo: a path, or skimage:<name> (default: the run's own image).")
F.integer("window", None, "Window in px of the photo (default: the run's --window, ~1.5x the "
          "largest instance).")
F.integer("stride", None, "Window stride in px (default window // 4: every instance lies whole "
          "inside some window, away from its edges).")
F.string("out", None, "Output directory (default <hoc_run>/instances).")
F.string("student_dir", None, "The instance student's run directory (default "
         "<hoc_run>/instance_student).")
F.integer("samples", 4096, "Labelled composites the student learns from.")
F.integer("steps", 1000, "Student training steps (a trained student is reused; more resumes it).")
F.integer("batch_size", 16, "Student batch.")
F.float("width", 0.5, "Student width multiplier (1: 32-256 channels).")
F.float("lr", 1e-3, "Student Adam learning rate.")
F.float("min_visible", 0.5, "An instance less visible than this share of its mask is not labelled "
        "(its pixels ignored).")
F.float("max_cut", 0.1, "An instance with more than this share of its mask outside the window is "
        "not labelled (its pixels ignored).")
F.float("prominence", 0.3, "A maximum of the centreness seeds an instance when it rises this much "
        "above the saddle to a higher one.")
F.float("smooth", 0.03, "Gaussian smoothing of the centreness before the seeds, in windows.")
F.float("min_area", 0.01, "Instances smaller than this share of the window's area are dropped.")
F.integer("seed", 0, "Seed of the composites and the student.")
F.boolean("jit", True, "XLA-compile the student's train step.")
F.boolean("overwrite", False, "Retrain the student from scratch.")
F.boolean("progress", True, "Show a progress bar.")


def _main(F):
  config = CountConfig(**{f.name: F[f.name].value for f in dataclasses.fields(CountConfig)})
  config.validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf.hoc.instances import count as hoc_count  # pylint: disable=g-import-not-at-top
  result = hoc_count.count(config, log=lambda line: print(line, flush=True))
  print(result.summary(), flush=True)
  print(f"count: {result.count}", flush=True)


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
