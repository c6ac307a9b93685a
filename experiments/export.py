"""Export a trained model as a TensorFlow SavedModel and a .keras file.

  python -m experiments.export --run_dir=runs/horse-distill --out_dir=exported/horse-distill

A segmenter run (teacher or student) gives a SavedModel whose `serving_default` signature maps
images=float32 [N, S, S, 3] in [0, 1] to mask=[N, S, S, 1] (and `segment_any_size`, images of any size
to masks of the same size); a HOC run (flags.json with z_dim) gives z=[N, z_dim] -> rgba=[N, S, S, 4].
The .keras file loads with keras.models.load_model. See docs/use.md.
"""
import sys

from absl import app, flags

flags.DEFINE_string("run_dir", None, "Run directory (flags.json + ckpt/).")
flags.DEFINE_string("out_dir", None, "Output folder: saved_model/, <kind>.keras, export.json.")
flags.DEFINE_enum("kind", "auto", ["auto", "segmenter", "generator"],
                  "What the run holds; auto: a generator when flags.json has z_dim.")
flags.DEFINE_boolean("overwrite", False, "Replace a non-empty --out_dir.")

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from ind_prior_tf import export  # pylint: disable=g-import-not-at-top
  try:
    for name in ("run_dir", "out_dir"):
      if not FLAGS[name].value:
        raise ValueError(f"--{name}: required")
    kind, ckpt, saved, keras_path = export.export_run(FLAGS.run_dir, FLAGS.out_dir, FLAGS.kind,
                                                      FLAGS.overwrite)
  except (ValueError, OSError) as e:  # RunError is a ValueError
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"exported the {kind} of {ckpt} to {saved} and {keras_path}")


if __name__ == "__main__":
  app.run(main)
