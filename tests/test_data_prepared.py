"""ind_prior_tf.data.prepared: writing and reading prepared sets (TFRecord shards + meta.json)."""

import os

import numpy as np
import pytest

from ind_prior_tf.data import prepared, raw
from ind_prior_tf.errors import DataError
from tests.data_fixtures import RED, make_celeba, make_cub


def test_prepare_cub_roundtrip(tmp_path):
  root = make_cub(tmp_path / "cub")
  recs = raw.read_cub(root)
  out = str(tmp_path / "prep")
  meta = prepared.prepare_set(recs, out, 16, source="cub:test")
  # 11 ids: 1 no box, 2 unreadable, 2 empty boxes -> 6 written.
  assert meta["count"] == 6 and meta["size"] == 16
  assert meta["splits"] == {"train": 5, "test": 1}
  assert meta["has_masks"] and meta["mask_count"] == 2
  assert meta["skipped_summary"] == (
      "skipped 5 of 11 images: 2 unreadable, 2 empty box, "
      "1 not in bounding_boxes.txt")
  assert prepared.read_meta(out)["count"] == 6
  # Only a folder set records more (its raw files): a CUB set's meta.json is as it always was.
  assert list(prepared.read_meta(out)) == ["format_version", "size", "count", "has_masks",
                                           "mask_count", "source", "splits", "shards", "skipped"]
  assert sorted(os.listdir(out)) == ["data-00000-of-00001.tfrecord",
                                     "meta.json", "skipped.txt"]
  skipped = open(os.path.join(out, "skipped.txt")).read().splitlines()
  assert len(skipped) == 5
  assert any("trunc.jpg\tunreadable" in s for s in skipped)
  assert any("random.jpg\tunreadable" in s for s in skipped)
  assert any("zero.jpg\tempty box" in s for s in skipped)
  assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]

  arr = prepared.load_prepared_arrays(out)
  assert arr["images"].shape == (6, 16, 16, 3) and arr["images"].dtype == np.uint8
  assert arr["masks"].shape == (6, 16, 16, 1) and arr["masks"].dtype == np.float32
  assert sorted(arr["ids"].tolist()) == [1, 2, 3, 4, 5, 8]
  by_id = {int(i): k for k, i in enumerate(arr["ids"])}
  for i in (1, 3, 5, 8):  # RGB, CMYK, RGBA, border box: the red rectangle.
    assert np.abs(arr["images"][by_id[i]].astype(int) - RED).max() <= 25, i
  assert arr["has_mask"][by_id[1]] and not arr["has_mask"][by_id[3]]
  m = arr["masks"][by_id[1], :, :, 0]
  # Mask rows 9..14 / cols 12..19 of the image = crop rows 3..8, cols 4..11 of
  # a 12x16 crop, scaled by 16/12 and 16/16.
  assert m[6, 7] == 1.0 and m[0, 0] == 0.0 and m[15, 15] == 0.0
  np.testing.assert_allclose(m * 255, np.round(m * 255), atol=1e-3)  # 8-bit.
  assert 0 < m[2, 7] < 1 or 0 < m[3, 7] < 1 or 0 < m[11, 7] < 1  # Soft edge.
  assert (arr["masks"][by_id[3]] == 0).all()
  gray = arr["images"][by_id[2]]
  assert np.array_equal(gray[..., 0], gray[..., 2])

  test = prepared.load_prepared_arrays(out, split="test")
  assert test["ids"].tolist() == [8]
  only = prepared.load_prepared_arrays(out, split="train", only_with_masks=True)
  assert sorted(only["ids"].tolist()) == [1, 2] and only["has_mask"].all()
  none = prepared.load_prepared_arrays(out, split="test", only_with_masks=True)
  assert none["images"].shape == (0, 16, 16, 3)


def test_prepared_dataset(tmp_path):
  root = make_cub(tmp_path / "cub")
  out = str(tmp_path / "prep")
  prepared.prepare_set(raw.read_cub(root), out, 16, source="cub:test")
  arr = prepared.load_prepared_arrays(out)
  ds = prepared.prepared_dataset(out, with_masks=True)
  elems = list(ds.as_numpy_iterator())
  assert len(elems) == 6
  e = elems[0]
  assert set(e) == {"image", "mask", "has_mask", "id"}
  assert e["image"].dtype == np.float32 and e["image"].shape == (16, 16, 3)
  assert e["mask"].shape == (16, 16, 1)
  k = list(arr["ids"]).index(e["id"])
  np.testing.assert_allclose(e["image"], arr["images"][k] / 255.0, atol=1e-6)
  np.testing.assert_allclose(e["mask"], arr["masks"][k], atol=1e-6)
  for x in elems:
    assert 0 <= x["image"].min() and x["image"].max() <= 1
  no_masks = next(iter(prepared.prepared_dataset(out, split="train")))
  assert "mask" not in no_masks
  assert len(list(prepared.prepared_dataset(out, only_with_masks=True))) == 2
  with pytest.raises(DataError, match="split"):
    prepared.prepared_dataset(out, split="val")


def test_prepared_sharding_and_mixed(tmp_path):
  def examples(n):
    rng = np.random.default_rng(1)
    for i in range(n):
      m = (rng.random((8, 8)) > 0.5).astype(np.float32) if i % 2 else None
      yield {"image": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
             "mask": m, "id": 100 + i, "is_train": i < 5}
  out = str(tmp_path / "p")
  meta = prepared.write_prepared(out, examples(7), 8, "synthetic", shard_size=3)
  assert meta["shards"] == [f"data-0000{i}-of-00003.tfrecord" for i in range(3)]
  assert meta["count"] == 7 and meta["mask_count"] == 3
  arr = prepared.load_prepared_arrays(out)
  order = np.argsort(arr["ids"])
  assert arr["ids"][order].tolist() == list(range(100, 107))
  expected = list(examples(7))
  for k, ex in zip(order, expected):
    assert np.array_equal(arr["images"][k], ex["image"])  # PNG is lossless.
    if ex["mask"] is None:
      assert not arr["has_mask"][k] and (arr["masks"][k] == 0).all()
    else:
      assert arr["has_mask"][k]
      assert np.array_equal(arr["masks"][k, :, :, 0], ex["mask"])
  os.remove(os.path.join(out, "data-00001-of-00003.tfrecord"))
  with pytest.raises(DataError, match="incomplete shards"):
    prepared.load_prepared_arrays(out)


def test_write_prepared_refuses_overwrite(tmp_path):
  def one(value):
    yield {"image": np.full((4, 4, 3), value, np.uint8), "mask": None, "id": 1,
           "is_train": True}
  out = str(tmp_path / "p")
  prepared.write_prepared(out, one(10), 4, "s")
  before = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
  with pytest.raises(DataError, match="exists and is not empty"):
    prepared.write_prepared(out, one(20), 4, "s")
  after = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
  assert before == after
  prepared.write_prepared(out, one(30), 4, "s", overwrite=True)
  assert (prepared.load_prepared_arrays(out)["images"] == 30).all()
  assert sorted(os.listdir(tmp_path)) == ["p"]
  # Zero examples: DataError, nothing written, no temp dir left behind.
  with pytest.raises(DataError, match="no usable examples"):
    prepared.write_prepared(str(tmp_path / "q"), iter([]), 4, "s")
  assert sorted(os.listdir(tmp_path)) == ["p"]
  with pytest.raises(DataError, match="image must be uint8"):
    prepared.write_prepared(str(tmp_path / "q"), iter([{"image": np.zeros((5, 5, 3))}]),
                     4, "s")
  assert sorted(os.listdir(tmp_path)) == ["p"]


def test_read_meta_missing_and_malformed(tmp_path):
  with pytest.raises(DataError, match=r"meta.json: missing; run `make cub-prep`"):
    prepared.read_meta(tmp_path)
  (tmp_path / "meta.json").write_text('{"size": 8')
  with pytest.raises(DataError, match="malformed meta.json"):
    prepared.read_meta(tmp_path)


def test_prepare_celeba(tmp_path):
  root = make_celeba(tmp_path / "celeba")
  out = str(tmp_path / "prep")
  meta = prepared.prepare_set(raw.read_celeba(root), out, 16, source="celeba")
  assert meta["count"] == 5 and not meta["has_masks"]
  assert meta["splits"] == {"train": 3, "test": 2}
  arr = prepared.load_prepared_arrays(out)
  assert np.abs(arr["images"].astype(int) - RED).max() <= 25
  assert not arr["has_mask"].any()
