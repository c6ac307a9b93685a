"""Counts the objects of a cluster photo nobody tuned on, training what it needs (minutes on CPU).

  python -m experiments.hoc_auto --image=my_cluster.png [--labels=truth_labels.png]
  make hoc-count HOC_IMAGE=my_cluster.png [LABELS=truth_labels.png]

Reads the objects' polarity, size and density from the photo and sets the HOC run's window, area
target a and layers from them; trains the auto_cpu preset (coins_cpu's model over the photo's own
ground, its objects painted out) into --logdir; trains its instance student and counts with it;
counts with a classical pipeline that needs no training (Otsu + distance-transform watershed); and
checks the student's instances against the GAN's instances and the photo's ground. The count given
(the last line, `count: <n>`) is the student's when the check trusts it, else the classical one,
and the line says which. Writes <logdir>/instances/<name>_{labels,overlay}.png and _instances.csv
(the given count), the same under instances/student and instances/baseline, and <logdir>/count.json.
With --labels, also the scores of the three (count error, AP@0.5). Rerunning resumes. The work is
ind_prior_tf/hoc/auto.py's.
"""
import sys

from ind_prior_tf import cli, knobs
from ind_prior_tf.hoc.auto import AutoConfig

F = cli.Flags(__doc__)
# Every flag is a field of AutoConfig, its default and help written there once.
knobs.define_config_flags(F, AutoConfig)


def _main(F):
  config = AutoConfig(image=F.image, logdir=F.logdir, labels=F.labels, polarity=F.polarity,
                      steps=F.steps, count_steps=F.count_steps, samples=F.samples, seed=F.seed,
                      progress=F.progress).validate()  # before the seconds-long TensorFlow import
  from ind_prior_tf.hoc import auto as hoc_auto  # pylint: disable=g-import-not-at-top
  report, trust = hoc_auto.count(config, log=lambda line: print(line, flush=True))
  for line in hoc_auto.summary_lines(report, trust):
    print(line, flush=True)


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
