"""What experiments.segment writes in --out_dir (masks/, cutouts/, skipped.txt, floor.txt) and when it may:
never over or inside what it reads (the photos, the boxes, the run), never over an earlier
segmentation without --overwrite, and with it only over outputs it wrote itself (owned.MARKER, or
for older outputs folders of PNGs alone). TensorFlow-free.
"""
import os

from ind_prior_tf.errors import FlagError
from ind_prior_tf.runtime import owned, runinfo

TOOL = "experiments.segment"
WRITES = ("masks", "cutouts", "skipped.txt", "floor.txt")


def _writes(out_dir):
  return [("--out_dir", out_dir, os.path.join(out_dir, name)) for name in WRITES]


def check_apart(config):
  """FlagError when a path segment writes is, holds or lies inside the --images folder (or file),
  the --boxes file or the run; before any image is listed (the images of a list or a pattern:
  check_items)."""
  # A --run_dir that is no run is reported by the run's own check (segmenter.load_run_segmenter).
  run = config.run_dir if runinfo.has_flags(config.run_dir) else None
  reads = [("--boxes", config.boxes), ("--run_dir", run)]
  if config.images and os.path.exists(config.images):
    reads.insert(0, ("--images", config.images))
  owned.check_apart(_writes(config.out_dir), reads)


def check_items(out_dir, items):
  """FlagError when one of the images listed (items: (key, rel, path)) would be written over or
  lies inside a folder segment writes (a list or a pattern that names old outputs)."""
  written = [os.path.realpath(os.path.abspath(p)) for _, _, p in _writes(out_dir)]
  for _, _, path in items:
    real = os.path.realpath(os.path.abspath(path))
    for name, w in zip(WRITES, written):
      if real == w or real.startswith(w + os.sep):
        raise FlagError(f"--out_dir={out_dir}: its {name} would be written over the image {path} "
                        "that --images lists; give an --out_dir apart from the images")


def _pngs_only(folder):
  files = [f for _, _, fs in os.walk(folder) for f in fs]
  return bool(files) and all(f.lower().endswith(".png") or ".png.tmp-" in f for f in files)


def _ours(out_dir, name, marked):
  if name in marked:
    return True
  # Written before the marker: masks/ and cutouts/ of PNGs alone, skipped.txt beside them.
  if name == "skipped.txt":
    return all(_pngs_only(os.path.join(out_dir, n)) for n in ("masks", "cutouts"))
  return _pngs_only(os.path.join(out_dir, name))


def earlier_outputs(out_dir, overwrite):
  """The names of WRITES that --out_dir already holds (an earlier segmentation); FlagError when
  there are any and not `overwrite`, or when one of them is not ours (--overwrite never removes
  what it did not write)."""
  if not os.path.isdir(out_dir):
    return []
  present = [n for n in WRITES if os.path.lexists(os.path.join(out_dir, n))]
  if not present:
    return []
  if not overwrite:
    raise FlagError(f"--out_dir={out_dir}: holds an earlier segmentation ({', '.join(present)}); "
                    "pass --overwrite to replace it, or give another --out_dir")
  marked = owned.marked_outputs(out_dir)
  for name in present:
    if not _ours(out_dir, name, marked):
      raise FlagError(f"--out_dir={out_dir}: its {name} was not written by {TOOL}; --overwrite "
                      "replaces only an earlier segmentation: give another --out_dir")
  return present


def claim(out_dir, present):
  """Removes the earlier segmentation's `present` entries and marks --out_dir's outputs as this
  tool's; returns how many files were removed."""
  os.makedirs(out_dir, exist_ok=True)
  removed = owned.clear(out_dir, present)
  owned.mark(out_dir, TOOL, WRITES)
  return removed
