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
<name>_instances.csv (id, area, centroid, box), and prints the count, with the classical count of the
photo beside it and whether the student's instances pass the check against the GAN's and the ground
(experiments.hoc_auto gives the classical count when they do not). Score against hand-made labels
with experiments/hoc_eval.py --labels. The work is ind_prior_tf/hoc/instances/count.py's.
"""
import dataclasses
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.hoc.instances.count import CountConfig

F = cli.Flags(__doc__)
# Every flag is a field of CountConfig, its default and help written there once.
knobs.define_config_flags(F, CountConfig)


def _main(F):
  config = CountConfig(**{f.name: F[f.name].value for f in dataclasses.fields(CountConfig)})
  config.validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf.hoc.instances import count as hoc_count  # pylint: disable=g-import-not-at-top
  result = hoc_count.count(config, log=lambda line: print(line, flush=True))
  print(result.summary(), flush=True)
  for line in result.check_lines():  # the count last
    print(line, flush=True)


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
