"""Averages segmenters: writes an ensemble run directory whose masks are the mean of its members'.

  python -m experiments.ensemble --members=runs/c/refine1,runs/c/refine2,runs/c/refine3 \
      --logdir=runs/c/ensemble

Not in the paper. The members are run directories of trained segmenters (teachers or students) that
take the same input size. The ensemble's folder holds only flags.json naming them (relative to it);
experiments.evaluate, segment, export and consistency, and distill's --teacher, take it as --run_dir
like any run and load each member's latest checkpoint. `make horse-refine` ends with one (the mean of
its last students, docs/fgseg.md). Writing the same ensemble again changes nothing; another one in
the same folder needs --overwrite, and a training run's folder is never written.
"""
import sys

from ind_prior_tf import cli
from ind_prior_tf.apply import ensemble

F = cli.Flags(__doc__)
F.string("members", None, "Run directories of the segmenters, separated by commas.")
F.string("logdir", None, "The ensemble's folder (it gets flags.json).")
F.boolean("overwrite", False, "Replace another ensemble already in --logdir.")


def _main(F):
  cli.require(F, "members", "logdir")
  members = [m for m in F.members.split(",") if m]
  done = ensemble.write(F.logdir, members, overwrite=F.overwrite)
  print(f"ensemble of {len(members)} runs in {F.logdir}"
        + (" (already there)" if done == "unchanged" else ""))
  return 0


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
