"""ind_prior_tf.data.pipeline: the tf.data input pipelines of the first application."""
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.data import pipeline, pools, prepared
from ind_prior_tf.errors import DataError


def write_set(path, n=10, size=16):
  """A prepared set whose crop i is filled with value 20*i, left half brighter (to see flips)."""
  def examples():
    for i in range(n):
      image = np.full((size, size, 3), 20 * i, np.uint8)
      image[:, : size // 2] += 5
      mask = np.zeros((size, size), np.float32)
      mask[: size // 2] = 1.0
      yield {"image": image, "mask": mask if i % 2 == 0 else None, "id": i + 1,
             "is_train": i < 6}
  prepared.write_prepared(str(path), examples(), size, source="test")
  return str(path)


@pytest.mark.parametrize("in_memory", [True, False])
def test_training_batches_shuffled_flipped_endless(tmp_path, in_memory):
  prep = write_set(tmp_path / "prep")
  ds = pipeline.training_dataset(prep, batch_size=4, image_size=16, seed=1, in_memory=in_memory)
  batches = [b.numpy() for b in ds.take(10)]  # 40 crops from a set of 10: it repeats
  assert all(b.shape == (4, 16, 16, 3) and b.dtype == np.float32 for b in batches)
  crops = np.concatenate(batches)
  assert 0.0 <= crops.min() and crops.max() <= 1.0
  flipped = crops[:, 0, 0, 0] < crops[:, 0, 15, 0]  # the brighter half moved to the right
  assert 5 < flipped.sum() < 35  # about half the crops are mirrored
  ids = np.round(crops[:, 0, :, 0].min(1) * 255 / 20).astype(int).tolist()
  assert sorted(ids[:10]) == list(range(10)) and ids[:10] != list(range(10))  # epochs, shuffled


def test_resize_split_and_batch_too_large(tmp_path):
  prep = write_set(tmp_path / "prep", size=16)
  ds = pipeline.training_dataset(prep, batch_size=3, image_size=8, split="test", flip=False)
  b = next(iter(ds)).numpy()
  assert b.shape == (3, 8, 8, 3)
  assert set(np.round(b[:, 0, 4, 0] * 255 / 20).astype(int).tolist()) <= {6, 7, 8, 9}
  with pytest.raises(DataError, match="fewer than one batch"):
    pipeline.training_dataset(prep, batch_size=11, image_size=16)


def test_eval_arrays_only_masked_crops_and_pool(tmp_path):
  prep = write_set(tmp_path / "prep")
  images, masks = pipeline.eval_arrays(prep, 32, count=3)
  assert images.shape == (3, 32, 32, 3) and masks.shape == (3, 32, 32, 1)
  np.testing.assert_allclose(masks[:, :10].min(), 1.0)
  np.testing.assert_allclose(masks[:, 22:].max(), 0.0)
  preview = pipeline.preview_images(prep, 16, count=4)
  assert preview.shape == (4, 16, 16, 3)
  pool_path = str(tmp_path / "pool.npz")
  pools.save_pool(pool_path, np.full((5, 24, 24, 3), 255, np.uint8))
  pool = pipeline.load_pool(pool_path, 16)
  assert pool.shape == (5, 16, 16, 3) and pool.dtype == tf.float32
  np.testing.assert_allclose(pool.numpy(), 1.0, atol=1e-5)


def _flipped(images):
  """Per image: is its brighter half on the right (the fixtures put it on the left)?"""
  images = np.asarray(images)
  half = images.shape[2] // 2
  return images[:, :, half:].mean(axis=(1, 2, 3)) > images[:, :, :half].mean(axis=(1, 2, 3))


@pytest.mark.parametrize("args, flips", [([], True), (["--flip=false"], False),
                                         (["--preset=paper", "--image_size=64", "--width=0.125",
                                           "--d_width=0.125", "--batch_size=8"], False)])
def test_the_fgseg_flip_flag_decides_whether_crops_and_backgrounds_are_mirrored(tmp_path, args,
                                                                               flips):
  """What experiments.fgseg's command line trains on: with flips on, about half the real crops and
  half the background patches are mirrored; with --flip=false, or the paper preset, none is."""
  from experiments import fgseg  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.fgseg import gan as fgseg_lib  # pylint: disable=g-import-not-at-top
  from ind_prior_tf.fgseg import run as fgseg_run
  prep = write_set(tmp_path / "prep")
  pool_path = str(tmp_path / "pool.npz")
  patches = np.full((6, 64, 64, 3), 40, np.uint8)
  patches[:, :, :32] = 200
  pools.save_pool(pool_path, patches)
  fgseg.F.values.unparse_flags()
  fgseg.F.values(["fgseg", "--preset=tiny", f"--prepared={prep}", f"--backgrounds={pool_path}",
                  f"--logdir={tmp_path / 'run'}", *args])
  config = fgseg.config_from_flags(fgseg.F)
  assert config.flip == flips
  dataset, pool, _, _ = fgseg_run.load_data(config)
  crops = np.concatenate([b.numpy() for b in dataset.take(8)])
  gan = fgseg_lib.FgSegGAN(config)
  backgrounds = np.concatenate([gan.draw(32, pool)[0].numpy() for _ in range(2)])
  for mirrored in (_flipped(crops), _flipped(backgrounds)):
    assert (0.2 < mirrored.mean() < 0.8) if flips else not mirrored.any()
