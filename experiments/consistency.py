"""A mask-free check of a segmenter: do its masks agree with its masks of the mirrored images?

  python -m experiments.consistency --run_dir=runs/horse-refine/refine1-gan --prepared=prepared/horse \
      --baseline=runs/horse-refine/student1 --max_drop=0.13

Prints the mean flip consistency (distill_lib.flip_consistency: per image, the IoU at 0.5 of the mask
with the mask of the mirrored image, mirrored back) over the prepared set's images; it needs no ground
truth. A segmenter that has lost the object draws masks that change with a flip (docs/use.md). With
--baseline (the run it started from) and --max_drop, exits with status 3 when the run's mean is below
the baseline's by more than max_drop, so that scripts can retry or drop such a run.

With --all_checkpoints every checkpoint the run kept is scored and the most consistent one is the
run's: consistency.json names it under "checkpoint" (for distill --teacher_checkpoint) and lists all
scores under "checkpoints"; the --max_drop check applies to it. The pick guards against a collapsed
checkpoint; it does not rank good ones finely (docs/results.md). The work is
ind_prior_tf/apply/consistency.py's.
"""
import dataclasses
import sys

from ind_prior_tf import cli, knobs  # consistency imports TensorFlow when it scores
from ind_prior_tf.apply import consistency

F = cli.Flags(__doc__)
# Every flag is a field of ConsistencyConfig, its default and help written there once.
knobs.define_config_flags(F, consistency.ConsistencyConfig)

DROPPED = 3  # exit status: below the baseline by more than --max_drop (ind_prior_tf/refine/plan.py)


def say(line):
  print(line, flush=True)


def _main(F):
  fields = dataclasses.fields(consistency.ConsistencyConfig)
  config = consistency.ConsistencyConfig(**{f.name: F[f.name].value for f in fields})
  config.validate().check_files()  # before the seconds-long TensorFlow import
  found = consistency.check(config, log=say)
  say(found.line)
  if found.dropped:
    say(f"below the baseline by more than --max_drop={config.max_drop}")
    return DROPPED
  return 0


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
