"""ind_prior_tf.data.raw: the CUB and CelebA readers on tiny sets in their layouts."""

import os

import pytest

from ind_prior_tf.data import raw
from ind_prior_tf.errors import DataError
from tests.data_fixtures import make_celeba, make_cub


def test_read_cub(tmp_path):
  root = make_cub(tmp_path / "cub")
  recs = raw.read_cub(root)
  assert [r.id for r in recs] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
  assert recs.skipped.counts() == {"not in bounding_boxes.txt": 1}
  assert recs.skipped.total == 11
  r1 = recs[0]
  assert r1.box == (8.0, 6.0, 16.0, 12.0) and r1.is_train
  assert r1.image_path == os.path.join(root, "images", "001.A/rgb.jpg")
  assert r1.mask_path == os.path.join(root, "segmentations", "001.A/rgb.png")
  assert recs[2].mask_path is None
  assert not [r for r in recs if r.id == 8][0].is_train
  with_masks = raw.read_cub(root, require_masks=True)
  assert [r.id for r in with_masks] == [1, 2]
  assert with_masks.skipped.counts()["no mask"] == 8


@pytest.mark.parametrize("missing", ["images.txt", "bounding_boxes.txt",
                                     "train_test_split.txt"])
def test_read_cub_missing_list(tmp_path, missing):
  root = make_cub(tmp_path / "cub")
  os.remove(os.path.join(root, missing))
  with pytest.raises(DataError) as e:
    raw.read_cub(root)
  msg = str(e.value)
  assert msg.startswith(os.path.join(root, missing) + ": missing")
  assert "CUB-200-2011 layout" in msg and "\n" not in msg


def test_read_cub_bad_files(tmp_path):
  with pytest.raises(DataError, match="missing directory"):
    raw.read_cub(tmp_path / "nothing")
  root = make_cub(tmp_path / "cub")
  with open(os.path.join(root, "bounding_boxes.txt"), "a") as f:
    f.write("12 1 2 3\n")
  with pytest.raises(DataError, match=r"bounding_boxes.txt:11: expected 5"):
    raw.read_cub(root)
  root = make_cub(tmp_path / "cub2")
  with open(os.path.join(root, "train_test_split.txt"), "a") as f:
    f.write("1 1\n")
  with pytest.raises(DataError, match="duplicate image id 1"):
    raw.read_cub(root)
  empty = tmp_path / "empty"
  (empty / "images").mkdir(parents=True)
  for n in ("images.txt", "bounding_boxes.txt", "train_test_split.txt"):
    (empty / n).write_text("")
  with pytest.raises(DataError, match="images.txt: no images listed"):
    raw.read_cub(empty)


def test_read_cub_missing_image_file_is_skip(tmp_path):
  root = make_cub(tmp_path / "cub")
  os.remove(os.path.join(root, "images", "001.A/cmyk.jpg"))
  recs = raw.read_cub(root)
  assert 3 not in [r.id for r in recs]
  assert recs.skipped.counts()["missing file"] == 1


def test_read_celeba(tmp_path):
  root = make_celeba(tmp_path / "celeba")
  recs = raw.read_celeba(root)
  assert [r.id for r in recs] == [1, 2, 3, 4, 5]
  assert [r.is_train for r in recs] == [True, True, True, False, False]
  assert recs[0].box == (6.0, 4.0, 20.0, 24.0) and recs[0].mask_path is None
  assert recs[0].image_path == os.path.join(root, "img_celeba", "000001.jpg")
  root2 = make_celeba(tmp_path / "celeba2", partition=False)
  assert all(r.is_train for r in raw.read_celeba(root2))
  os.remove(os.path.join(root2, "list_bbox_celeba.txt"))
  with pytest.raises(DataError, match="list_bbox_celeba.txt: missing"):
    raw.read_celeba(root2)


def test_first_keeps_the_skip_log(tmp_path):
  root = make_celeba(tmp_path / "celeba")
  os.remove(os.path.join(root, "img_celeba", "000002.jpg"))
  recs = raw.read_celeba(root)
  assert recs.first(None) is recs and recs.first(4) is recs
  head = recs.first(2)
  assert [r.id for r in head] == [1, 3]
  assert head.skipped.items == recs.skipped.items and head.skipped.total == 3
  assert head.skipped.summary() == "skipped 1 of 3 images: 1 missing file"


def test_read_celeba_bad_header(tmp_path):
  root = make_celeba(tmp_path / "celeba", n=2)
  p = os.path.join(root, "list_bbox_celeba.txt")
  lines = open(p).read().splitlines()
  open(p, "w").write("\n".join([lines[0], "foo bar"] + lines[2:]) + "\n")
  with pytest.raises(DataError, match=r"list_bbox_celeba.txt:2: expected header"):
    raw.read_celeba(root)


def test_read_box_file_csv_and_cub_style(tmp_path):
  """boxes as CSV `name,x,y,w,h` (header optional, names may hold commas when
  quoted) or CUB-style `<name> x y w h` lines (names may hold spaces)."""
  p = tmp_path / "boxes.csv"
  p.write_text('name,x,y,w,h\na.jpg,1,2,3,4\n"sub/b, old.png",5,6,7.5,8\n# a comment\n\n')
  assert raw.read_box_file(p) == {"a.jpg": (1, 2, 3, 4), "sub/b, old.png": (5, 6, 7.5, 8)}
  p.write_text("a.jpg,1,2,3,4\n7,0,0,1,1\n")
  assert raw.read_box_file(p) == {"a.jpg": (1, 2, 3, 4), 7: (0, 0, 1, 1)}
  p = tmp_path / "bounding_boxes.txt"
  p.write_text("1 10 20 30 40\nmy photo.jpg 1 2 3 4\n")
  assert raw.read_box_file(p) == {1: (10, 20, 30, 40), "my photo.jpg": (1, 2, 3, 4)}
  for text, needle in [("name,x,y,w,h\na.jpg,1,2,3\n", r"boxes.txt:2: expected `name,x,y,w,h`"),
                       ("a.jpg,1,2,x,4\n", r"boxes.txt:1: bad numbers"),
                       ("a.jpg 1 2 3 4\na.jpg 1 2 3 4\n", r"boxes.txt:2: duplicate key 'a.jpg'"),
                       ("a.jpg 1 2\n", r"boxes.txt:1: expected `<key> x y w h`")]:
    (tmp_path / "boxes.txt").write_text(text)
    with pytest.raises(DataError, match=needle):
      raw.read_box_file(tmp_path / "boxes.txt")
  with pytest.raises(DataError, match="missing boxes file"):
    raw.read_box_file(tmp_path / "gone.csv")


def test_read_folder_without_boxes_or_masks(tmp_path):
  """Every image whole, all train; an unreadable file is a counted skip; no image is an error."""
  from tests.data_fixtures import rect_image, save  # pylint: disable=g-import-not-at-top
  save(str(tmp_path / "p" / "x.jpg"), rect_image(40, 30, (1, 1, 5, 5)))
  (tmp_path / "p" / "y.png").write_bytes(b"not an image")
  recs = raw.read_folder(tmp_path / "p")
  assert [(r.id, r.box, r.is_train, r.mask_path) for r in recs] == [(1, (0, 0, 40, 30), True, None)]
  assert recs.skipped.counts() == {"unreadable": 1}
  (tmp_path / "e").mkdir()
  (tmp_path / "e" / "notes.txt").write_text("x")
  with pytest.raises(DataError, match="no images .*ignored 1 other file: notes.txt"):
    raw.read_folder(tmp_path / "e")
  with pytest.raises(DataError, match="missing masks directory"):
    raw.read_folder(tmp_path / "p", masks_dir=str(tmp_path / "gone"))
