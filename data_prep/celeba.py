"""Prepares CelebA (in-the-wild images + boxes) as a 128x128 prepared set.

  python -m data_prep.celeba --celeba_root=/data/celeba --out_dir=prepared/celeba \
      --size=128 [--max_images=5000]

Reads list_bbox_celeba.txt, img_celeba/ and optional
list_eval_partition.txt; crops by box, resizes, writes TFRecord shards +
meta.json (see docs/data.md).  No masks.
"""

import sys

from absl import app, flags

flags.DEFINE_string('celeba_root', None, 'CelebA root (list_bbox_celeba.txt, '
                    'img_celeba/, optional list_eval_partition.txt).')
flags.DEFINE_string('out_dir', None, 'Output directory of the prepared set.')
flags.DEFINE_integer('size', 128, 'Side of the square crops in pixels.')
flags.DEFINE_integer('max_images', None, 'Only the first N listed images '
                     '(quick subset).')
flags.DEFINE_bool('overwrite', False, 'Replace an existing non-empty --out_dir.')

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  from ind_prior_tf.data import prepared, raw  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    if not FLAGS.celeba_root:
      raise DataError('--celeba_root: required')
    if not FLAGS.out_dir:
      raise DataError('--out_dir: required')
    if FLAGS.size < 1:
      raise DataError(f'--size={FLAGS.size}: must be >= 1')
    if FLAGS.max_images is not None and FLAGS.max_images < 1:
      raise DataError(f'--max_images={FLAGS.max_images}: must be >= 1')
    prepared.check_out_dir(FLAGS.out_dir, FLAGS.overwrite)
    records = raw.read_celeba(FLAGS.celeba_root)
    if FLAGS.max_images is not None and FLAGS.max_images < len(records):
      skipped = records.skipped
      records = raw.RecordList(records[:FLAGS.max_images])
      records.skipped.items = [s for s in skipped.items]
      records.skipped.total = len(records) + len(skipped)
    meta = prepared.prepare_set(records, FLAGS.out_dir, FLAGS.size,
                                source=f'celeba:{FLAGS.celeba_root}',
                                overwrite=FLAGS.overwrite)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f"wrote {meta['count']} examples ({meta['splits']['train']} train, "
        f"{meta['splits']['test']} test) to {FLAGS.out_dir}; "
        f"{meta['skipped_summary']}")


if __name__ == '__main__':
  app.run(main)
