"""Cuts one image of a homogeneous object cluster (HOC) into training patches.

  python -m data_prep.hoc_patches --image=skimage:coins --window=48 \
      --out=prepared/coins_patches.npz --hflip --vflip \
      [--backgrounds_out=prepared/coins_bg.npz --disk_radius=20]

Paper: window ~1.5x the width of the biggest instance, patches scaled to
64x64, horizontal/vertical flips add copies.  --image=skimage:<name> loads a
scikit-image bundled sample (e.g. coins) offline.  Writes an .npz with
`patches` uint8 [P,S,S,3]; optionally the disk backgrounds (a black disk of
--disk_radius px in the centre of every patch; --disk_radius=0 -> no disk,
negative -> pure black).
"""

import sys

from absl import app, flags

flags.DEFINE_string('image', None, 'Image path, or skimage:<name> '
                    '(e.g. skimage:coins).')
flags.DEFINE_integer('window', None, 'Window side in source pixels.')
flags.DEFINE_integer('stride', None, 'Grid stride in pixels (default '
                     'window // 4).')
flags.DEFINE_integer('out_size', 64, 'Patch side after resizing.')
flags.DEFINE_bool('hflip', False, 'Add left-right flipped copies.')
flags.DEFINE_bool('vflip', False, 'Add up-down flipped copies.')
flags.DEFINE_string('out', None, 'Output .npz (patches).')
flags.DEFINE_string('backgrounds_out', None, 'Optional output .npz of disk '
                    'backgrounds.')
flags.DEFINE_float('disk_radius', 20.0, 'Disk radius in pixels at --out_size; '
                   'negative -> pure black backgrounds.')

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  from ind_prior_tf.data import images, pools  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    if not FLAGS.image:
      raise DataError('--image: required (a path or skimage:coins)')
    if FLAGS.window is None:
      raise DataError('--window: required (px, ~1.5x the largest '
                      'instance width)')
    if not FLAGS.out:
      raise DataError('--out: required')
    stride = FLAGS.stride if FLAGS.stride is not None else max(1, FLAGS.window // 4)
    image = images.load_image_spec(FLAGS.image)
    patches = pools.extract_patches(image, FLAGS.window, stride,
                                    out_size=FLAGS.out_size,
                                    hflip=FLAGS.hflip, vflip=FLAGS.vflip)
    pools.save_pool(FLAGS.out, patches)
    if FLAGS.backgrounds_out:
      radius = FLAGS.disk_radius if FLAGS.disk_radius >= 0 else None
      pools.save_pool(FLAGS.backgrounds_out,
                      pools.disk_backgrounds(patches, radius))
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  h, w = image.shape[:2]
  print(f'wrote {patches.shape[0]} patches of {FLAGS.out_size}x{FLAGS.out_size} '
        f'(window {FLAGS.window}, stride {stride}, image {w}x{h}) to {FLAGS.out}')


if __name__ == '__main__':
  app.run(main)
