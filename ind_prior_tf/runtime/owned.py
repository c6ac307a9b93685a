"""What a command may write and replace: never a path it reads, and with --overwrite only what it wrote
itself. TensorFlow-free, so that entry points check their paths before the TensorFlow import.

- `check_apart(writes, reads)`: a path written that is, holds or lies inside a path read (photos,
  masks, boxes, lists, prepared sets, pools, runs) is a FlagError naming both flags, whatever
  --overwrite says: the command would write over its own input.
- `MARKER` (`.ind-prior-tf`): a small JSON file a command writes into a folder it filled, naming the
  entries it wrote there (`mark`). `foreign(folder, legacy)` lists what a folder holds that the
  command did not write; --overwrite removes a folder's entries only when that list is empty
  (`clear`), so it never deletes a folder of the user's. Folders written before the marker existed
  are recognised by their entries' names (`legacy`: fnmatch patterns).
- `marked_outputs(folder)`: the entries a marker in `folder` names, which a walk for photos skips
  (images.scan_images): a command never reads its own outputs back as input.
"""
import fnmatch
import json
import os
import shutil

from ind_prior_tf.errors import FlagError

MARKER = ".ind-prior-tf"

# What our commands wrote before they marked their folders, by name (fnmatch patterns).
LEGACY_EXPORT = ("saved_model", "*.keras", "export.json")
LEGACY_PREPARED = ("meta.json", "skipped.txt", "data-*-of-*.tfrecord")


def _real(path):
  return os.path.realpath(os.path.abspath(os.fspath(path)))


def relation(write, read):
  """How path `write` stands to path `read`: 'is', 'lies inside', 'holds', or None (apart)."""
  w, r = _real(write), _real(read)
  if w == r:
    return "is"
  if w.startswith(r.rstrip(os.sep) + os.sep):
    return "lies inside"
  if r.startswith(w.rstrip(os.sep) + os.sep):
    return "holds"
  return None


def check_apart(writes, reads):
  """FlagError for the first written path that is, holds or lies inside a path read.

  writes: (flag, value, path written): `path` is what is written (a file, or a folder replaced or
    filled), `flag=value` what the user gave (segment's --out_dir=o writes o/masks and o/cutouts).
  reads: (flag, path) of everything read; entries whose path is None or '' are left out."""
  for wflag, value, wpath in writes:
    if not value or not wpath:
      continue
    for rflag, rpath in reads:
      if not rpath:
        continue
      how = relation(wpath, rpath)
      if how is None:
        continue
      what = "" if _real(wpath) == _real(value) else f" (it writes {wpath})"
      raise FlagError(f"{wflag}={value}{what} {how} {rflag}={rpath}, which this command reads; "
                      f"give a {wflag} apart from it (--overwrite does not change this)")


def read_marker(folder):
  """The marker's record ({"tool", "wrote": [names]}) in `folder`, or None."""
  try:
    with open(os.path.join(folder, MARKER)) as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  return record if isinstance(record, dict) else None


def marked_outputs(folder):
  """The names of the entries of `folder` that a command wrote (its marker's list); empty without."""
  record = read_marker(folder)
  return set(record.get("wrote", [])) if record else set()


def mark(folder, tool, wrote):
  """Writes `folder`'s marker: `tool` wrote these entries (names) there, with any it listed before."""
  wrote = sorted(set(wrote) | marked_outputs(folder))
  path = os.path.join(folder, MARKER)
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(dict(tool=tool, wrote=wrote), f)
    f.write("\n")
  os.replace(tmp, path)


def foreign(folder, legacy=()):
  """The entries of `folder` (sorted names) that no command of ours wrote: those its marker does not
  name, or without a marker those no pattern of `legacy` matches (outputs written before markers)."""
  names = sorted(n for n in os.listdir(folder) if n != MARKER)
  ours = marked_outputs(folder)
  if ours:
    return [n for n in names if n not in ours]
  return [n for n in names if not any(fnmatch.fnmatch(n, p) for p in legacy)]


def check_ours(folder, flag, legacy=(), what="what this command writes"):
  """FlagError naming `flag` when `folder` holds anything no command of ours wrote: --overwrite
  replaces only our outputs, never the user's files."""
  others = foreign(folder, legacy)
  if others:
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    raise FlagError(f"{flag}={folder}: holds {len(others)} file{'s' if len(others) > 1 else ''} "
                    f"that ind-prior-tf did not write ({shown}); --overwrite replaces only "
                    f"{what}: give another {flag} or empty it yourself")


def clear(folder, names):
  """Removes the entries `names` of `folder` (files or folders; missing ones are passed over) and
  returns how many files they held."""
  count = 0
  for name in names:
    path = os.path.join(folder, name)
    if os.path.isdir(path) and not os.path.islink(path):
      count += sum(len(files) for _, _, files in os.walk(path))
      shutil.rmtree(path)
    elif os.path.lexists(path):
      count += 1
      os.remove(path)
  return count
