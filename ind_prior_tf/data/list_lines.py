"""The lines of a list file of images, read without guessing: `<path>` or CUB's `<image_id> <path>`.

A line such as `2024 trip/t1.jpg` is either the path `2024 trip/t1.jpg` or the image id 2024 with the
path `trip/t1.jpg`: the file that exists decides, and when both do the line is an error naming the
file and line. A list none of whose images is found is an error saying where its paths were looked
for and which --image_root would find them (a list of paths relative to the working directory).
"""

from __future__ import annotations

import os

from ind_prior_tf.errors import DataError


def _default_root(spec, entries):
  """The list file's folder, or for an `<id> <path>` list (every line may be one) its images/
  subfolder when there is one (CUB's images.txt)."""
  root = os.path.dirname(os.path.abspath(spec))
  cub_images = os.path.join(root, "images")
  if all(split is not None for _, _, split in entries) and os.path.isdir(cub_images):
    return cub_images
  return root


def _at(root, rel):
  return rel if os.path.isabs(rel) else os.path.join(root, rel)


def read_entries(spec, image_root=None):
  """[(key, relative path, path)] of a list file: key the image id of an `<id> <path>` line, else the
  path as listed. Relative paths start from image_root (default: _default_root)."""
  entries = []  # (line number, the whole line, (id, rest) or None)
  with open(spec, encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      parts = line.split(maxsplit=1)
      split = (int(parts[0]), parts[1].strip()) if len(parts) == 2 and parts[0].isdigit() else None
      entries.append((lineno, line, split))
  if not entries:
    raise DataError(f"{spec}: no images listed")
  root = image_root if image_root is not None else _default_root(spec, entries)
  out = []
  for lineno, line, split in entries:
    if split is None:
      out.append((line, line, _at(root, line)))
      continue
    as_path, as_id = _at(root, line), _at(root, split[1])
    path_found, id_found = os.path.lexists(as_path), os.path.lexists(as_id)
    if path_found and id_found:
      raise DataError(f"{spec}:{lineno}: {line!r} names both the image {as_path} and, as image "
                      f"id {split[0]}, the image {as_id}; write ./{line} for the first, "
                      f"{split[0]} ./{split[1]} for the second")
    if path_found:  # a path that starts with digits and holds a space
      out.append((line, line, as_path))
    else:
      out.append((split[0], split[1], as_id))
  _check_found(spec, out, root, image_root)
  return out


def _check_found(spec, items, root, image_root):
  """DataError when none of the listed images exists where they were looked for; some missing are
  reported and skipped one by one when segmenting."""
  if any(os.path.lexists(path) for _, _, path in items):
    return
  rels = [rel for _, rel, _ in items if not os.path.isabs(rel)]
  hint = "give --image_root=<the folder its paths start from>"
  if rels and all(os.path.lexists(rel) for rel in rels):
    hint = "they are relative to the working directory: give --image_root=."
  where = "--image_root" if image_root is not None else "the list's folder"
  raise DataError(f"{spec}: none of its {len(items)} images is found under {root} ({where}; e.g. "
                  f"{items[0][2]}); {hint}")
