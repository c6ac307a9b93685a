"""Prepares CUB-200-2011 (or a set in its layout) as a 128x128 prepared set.

  python -m data_prep.cub --cub_root=/data/CUB_200_2011 --out_dir=prepared/cub --size=128

Crops every image by its box, resizes to --size, keeps masks from
segmentations/ where present and writes TFRecord shards + meta.json (see
docs/data.md).  Bad items are skipped, counted and listed in skipped.txt.
"""

import sys

from absl import app, flags

flags.DEFINE_string('cub_root', None, 'CUB-200-2011 root (images.txt, '
                    'bounding_boxes.txt, train_test_split.txt, images/, '
                    'optional segmentations/).')
flags.DEFINE_string('out_dir', None, 'Output directory of the prepared set.')
flags.DEFINE_integer('size', 128, 'Side of the square crops in pixels.')
flags.DEFINE_bool('overwrite', False, 'Replace an existing non-empty --out_dir.')
flags.DEFINE_bool('require_masks', False, 'Skip images without a mask.')

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  from ind_prior_tf.data import prepared, raw  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    if not FLAGS.cub_root:
      raise DataError('--cub_root: required')
    if not FLAGS.out_dir:
      raise DataError('--out_dir: required')
    if FLAGS.size < 1:
      raise DataError(f'--size={FLAGS.size}: must be >= 1')
    prepared.check_out_dir(FLAGS.out_dir, FLAGS.overwrite)
    records = raw.read_cub(FLAGS.cub_root,
                           require_masks=FLAGS.require_masks)
    meta = prepared.prepare_set(records, FLAGS.out_dir, FLAGS.size,
                                source=f'cub:{FLAGS.cub_root}',
                                overwrite=FLAGS.overwrite)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f"wrote {meta['count']} examples ({meta['splits']['train']} train, "
        f"{meta['splits']['test']} test, {meta['mask_count']} with masks) to "
        f"{FLAGS.out_dir}; {meta['skipped_summary']}")


if __name__ == '__main__':
  app.run(main)
