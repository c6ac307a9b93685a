"""Boxes files: reading one (read_box_file: CUB-style lines or CSV) and which photo each of its lines
names, without guessing: a name that fits several photos (a file name shared by two subfolders) or none
is an error naming the file and line, never a box applied twice or dropped without a word."""

from __future__ import annotations

import collections
import csv
import os

from ind_prior_tf.errors import DataError


def _box_numbers(path, lineno, values):
  try:
    return tuple(float(v) for v in values)
  except ValueError:
    raise DataError(f"{path}:{lineno}: bad numbers {list(values)}") from None


class BoxTable(dict):
  """{key: (x, y, w, h)} of a boxes file, with `lines`: {key: its line number}."""

  def __init__(self):
    super().__init__()
    self.lines = {}


def _add_box(boxes, path, lineno, name, box):
  name = name.strip()
  key = int(name) if name.isdigit() else name
  if key in boxes:
    raise DataError(f"{path}:{lineno}: duplicate key {name!r}")
  boxes[key] = box
  boxes.lines[key] = lineno


# The headers a boxes CSV may start with (the columns after the name), lower-cased.
CSV_HEADERS = (["x", "y", "w", "h"], ["x", "y", "width", "height"])


def read_box_file(path: str) -> dict:
  """A boxes file -> {key: (x, y, w, h)} (pixels, CUB convention; integer keys as ints).

  Two forms: CUB's bounding_boxes.txt style, lines `<key> <x> <y> <w> <h>` (the key an image id, or an
  image's path or file name, which may hold spaces: the last four fields are the numbers); or CSV,
  `name,x,y,w,h` per row after an optional header row of that form (or `name,x,y,width,height`,
  any first column's name; told apart by a comma on the first line). Blank lines and lines starting with # are comments.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise DataError(f"{path}: missing boxes file")
  with open(path, encoding="utf-8-sig", errors="replace") as f:
    lines = [(n, line.strip()) for n, line in enumerate(f, 1)]
  lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
  boxes = BoxTable()
  if lines and "," in lines[0][1]:
    rows = list(csv.reader([line for _, line in lines]))
    for (lineno, line), row in zip(lines, rows):
      if len(row) != 5:
        raise DataError(f"{path}:{lineno}: expected `name,x,y,w,h`, got {line[:80]!r}")
      if lineno == lines[0][0] and [c.strip().lower() for c in row[1:]] in CSV_HEADERS:
        continue  # the header
      _add_box(boxes, path, lineno, row[0], _box_numbers(path, lineno, row[1:]))
    return boxes
  for lineno, line in lines:
    parts = line.rsplit(maxsplit=4)
    if len(parts) != 5:
      raise DataError(f"{path}:{lineno}: expected `<key> x y w h`, got {line[:80]!r}")
    _add_box(boxes, path, lineno, parts[0], _box_numbers(path, lineno, parts[1:]))
  return boxes


def _where(boxes, path, key):
  line = getattr(boxes, "lines", {}).get(key)
  return f"{path}:{line}" if line else path


def _shown(rels):
  return ", ".join(rels[:3]) + (", ..." if len(rels) > 3 else "")


def folder_boxes(boxes, path, rels, images_dir) -> dict:
  """{relative path: box} for a folder's photos `rels` from a boxes file's {key: box} (BoxTable).
  A key is a photo's path relative to the folder, or a file name that exactly one photo has. A key
  that fits several photos, or none, is a DataError naming `path` and its line."""
  rels = [os.path.normpath(r) for r in rels]
  exact = set(rels)
  by_name = collections.defaultdict(list)
  for rel in rels:
    by_name[os.path.basename(rel)].append(rel)
  out = {}
  for key, box in boxes.items():
    name = os.path.normpath(str(key))
    if name in exact:
      matches = [name]
    else:
      matches = by_name.get(name, [])
    if len(matches) > 1:
      raise DataError(f"{_where(boxes, path, key)}: {str(key)!r} is the name of "
                      f"{len(matches)} photos of {images_dir} ({_shown(matches)}); give the one "
                      f"you mean by its path relative to the folder ({matches[0]})")
    if not matches:
      raise DataError(f"{_where(boxes, path, key)}: {str(key)!r} is no photo of {images_dir}; "
                      "give a path relative to the folder (sub/a.jpg), or remove the line")
    if matches[0] in out:
      raise DataError(f"{_where(boxes, path, key)}: a second box for {matches[0]}")
    out[matches[0]] = box
  return out


def list_boxes(boxes, path, items) -> dict:
  """{key: box or None} for each image to segment (items: (key, relative path, path)) from a boxes
  file's {key: box} (BoxTable): its key (a list's image id), else its path as listed, else its
  file name, when no other image is listed under that name. A file name that fits several images
  and names none of them itself is a DataError naming `path` and its line (its box would be applied
  to each). Boxes for images not listed are fine (a big boxes file, a few images)."""
  listed = {k for k, _, _ in items} | {os.path.normpath(rel) for _, rel, _ in items}
  by_name = collections.defaultdict(list)
  for _, rel, _ in items:
    by_name[os.path.basename(rel)].append(rel)
  for key in boxes:
    if key in listed or os.path.normpath(str(key)) in listed:
      continue
    matches = by_name.get(str(key), [])
    if len(matches) > 1:
      raise DataError(f"{_where(boxes, path, key)}: {str(key)!r} is the name of "
                      f"{len(matches)} images ({_shown(matches)}); give the one you mean by its "
                      f"path as listed ({matches[0]})")
  out = {}
  for key, rel, _ in items:
    found = next((boxes[c] for c in (key, rel, os.path.normpath(rel)) if c in boxes), None)
    name = os.path.basename(rel)
    if found is None and name in boxes and name not in listed:
      found = boxes[name]
    out[key] = found
  return out
