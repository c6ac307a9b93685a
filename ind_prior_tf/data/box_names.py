"""Which photo each line of a boxes file names, without guessing: a name that fits several photos (a
file name shared by two subfolders) or none is an error naming the file and line, never a box applied
twice or dropped without a word."""

from __future__ import annotations

import collections
import os

from ind_prior_tf.errors import DataError


def _where(boxes, path, key):
  line = getattr(boxes, "lines", {}).get(key)
  return f"{path}:{line}" if line else path


def _shown(rels):
  return ", ".join(rels[:3]) + (", ..." if len(rels) > 3 else "")


def folder_boxes(boxes, path, rels, images_dir) -> dict:
  """{relative path: box} for a folder's photos `rels` from a boxes file's {key: box} (raw.BoxTable).
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
  file's {key: box} (raw.BoxTable): its key (a list's image id), else its path as listed, else its
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
