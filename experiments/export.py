"""Export a trained model as a TensorFlow SavedModel and a .keras file.

  python -m experiments.export --run_dir=runs/horse-distill --out_dir=exported/horse-distill

A segmenter run (teacher or student) gives a SavedModel whose `serving_default` signature maps
images=float32 [N, S, S, 3] in [0, 1] to mask=[N, S, S, 1] (and `segment_any_size`, images of any size
to masks of the same size); a HOC run (flags.json with z_dim) gives z=[N, z_dim] -> rgba=[N, S, S, 4].
The .keras file loads with keras.models.load_model. See docs/use.md.
"""
import os
import sys

from ind_prior_tf import cli
from ind_prior_tf.runtime import owned, rundir

F = cli.Flags(__doc__)
F.string("run_dir", None, "Run directory (flags.json + ckpt/).")
F.string("out_dir", None, "Output folder: saved_model/, <kind>.keras, export.json.")
F.enum("kind", "auto", ["auto", "segmenter", "generator"],
       "What the run holds; auto: a generator when flags.json has z_dim.")
F.boolean("overwrite", False, "Replace a non-empty --out_dir.")


def _main(F):
  cli.require(F, "run_dir", "out_dir")
  rundir.check_writable_dir(F.out_dir)  # before the model is loaded
  owned.check_apart([("--out_dir", F.out_dir, F.out_dir)], [("--run_dir", F.run_dir)])
  if F.overwrite and os.path.isdir(F.out_dir) and os.listdir(F.out_dir):
    owned.check_ours(F.out_dir, "--out_dir", owned.LEGACY_EXPORT, "an earlier export")
  from ind_prior_tf.apply import export  # pylint: disable=g-import-not-at-top
  kind, ckpt, saved, keras_path, post = export.export_run(F.run_dir, F.out_dir, F.kind,
                                                         F.overwrite)
  print(f"exported the {kind} of {ckpt} to {saved} and {keras_path}")
  if post is not None and not post.is_identity():
    inside = post.network_words() or "nothing"
    print(f"with the run's recipe: inside the SavedModel {inside}; "
          + (f"outside it, {os.path.join(F.out_dir, 'postprocess.json')} ({post.describe()}), "
             "which ind_prior_tf.api applies" if post.after_network else "nothing outside it"))


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
