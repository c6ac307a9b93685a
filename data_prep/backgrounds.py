"""Builds a background patch pool (.npz with `patches` uint8 [N,S,S,3]).

  python -m data_prep.backgrounds --image_dir=../shared/data/backgrounds \
      --out=prepared/bg_pool.npz --size=128 --count=2000 --seed=0
  python -m data_prep.backgrounds --source=outside_boxes --cub_root=/data/CUB \
      --out=prepared/bg_outside.npz

--source=folder: random square crops (side = uniform(--min_scale,
--max_scale) x short side) of the images in --image_dir.
--source=outside_boxes: patches of the --cub_root images taken outside their
boxes (no foreground), as in the paper.
"""

import sys

from absl import app, flags

flags.DEFINE_enum('source', 'folder', ['folder', 'outside_boxes'],
                  'Where patches come from.')
flags.DEFINE_string('image_dir', None, 'Folder of natural images '
                    '(--source=folder).')
flags.DEFINE_string('cub_root', None, 'CUB-layout root '
                    '(--source=outside_boxes).')
flags.DEFINE_string('out', None, 'Output .npz file.')
flags.DEFINE_integer('size', 128, 'Patch side in pixels.')
flags.DEFINE_integer('count', 2000, 'Number of patches.')
flags.DEFINE_integer('seed', 0, 'Random seed.')
flags.DEFINE_float('min_scale', 0.3, 'Min crop side / short image side '
                   '(--source=folder).')
flags.DEFINE_float('max_scale', 1.0, 'Max crop side / short image side '
                   '(--source=folder).')
flags.DEFINE_float('max_zoom', None, 'Patches magnified at most this many '
                   'times more than their image\'s box crop, so the pool is as '
                   'sharp as the crops (--source=outside_boxes; default: no '
                   'limit, any strip of >= size/4 px).')

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  from ind_prior_tf.data import images, pools, raw  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    if not FLAGS.out:
      raise DataError('--out: required')
    if FLAGS.source == 'folder':
      if not FLAGS.image_dir:
        raise DataError('--image_dir: required with --source=folder')
      paths = images.list_images(FLAGS.image_dir)
      patches = pools.background_patches(
          paths, FLAGS.size, FLAGS.count, FLAGS.seed,
          min_scale=FLAGS.min_scale, max_scale=FLAGS.max_scale)
      what = f'{len(paths)} images in {FLAGS.image_dir}'
    else:
      if not FLAGS.cub_root:
        raise DataError('--cub_root: required with '
                        '--source=outside_boxes')
      records = raw.read_cub(FLAGS.cub_root)
      patches = pools.outside_box_patches(records, FLAGS.size, FLAGS.count,
                                          FLAGS.seed, max_zoom=FLAGS.max_zoom)
      what = f'outside the boxes of {len(records)} images in {FLAGS.cub_root}'
    pools.save_pool(FLAGS.out, patches)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'wrote {patches.shape[0]} patches of {FLAGS.size}x{FLAGS.size} from '
        f'{what} to {FLAGS.out}')


if __name__ == '__main__':
  app.run(main)
