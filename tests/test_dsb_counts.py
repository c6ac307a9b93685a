"""tools/dsb_counts.py on a small stage1_train folder in the DSB 2018 layout, made here: which cases
it takes, how it splits them, how it reads one mask per nucleus, and the counts it scores."""
import hashlib
import importlib.util
import json
import os

import numpy as np
from PIL import Image

from tests.test_cluster import disc_grid

_SPEC = importlib.util.spec_from_file_location(
    "dsb_counts", os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "dsb_counts.py"))
dsb_counts = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(dsb_counts)


def write_case(root, case, image, labels):
  os.makedirs(root / case / "images")
  os.makedirs(root / case / "masks")
  Image.fromarray(image).save(root / case / "images" / f"{case}.png")
  for k in range(1, labels.max() + 1):
    Image.fromarray(((labels == k) * 255).astype(np.uint8)).save(root / case / "masks" / f"m{k:02d}.png")


def test_dsb_counts_reads_the_layout_splits_by_sha1_and_scores(tmp_path, capsys):
  stage1 = tmp_path / "stage1_train"
  image, labels = disc_grid(8, rows=3, cols=4, gap=4, noise=6, ground=20, bright=180)
  names = ["a1", "b2", "c3", "d4"]
  for name in names:
    write_case(stage1, name, image, labels)
  few, few_labels = disc_grid(8, rows=1, cols=3, gap=4)
  write_case(stage1, "few", few, few_labels)  # under --min_objects: left out
  cases = dsb_counts.cases(str(stage1), min_objects=10)
  order = sorted(names, key=lambda n: hashlib.sha1(n.encode()).hexdigest())
  assert [c[0] for c in cases] == order
  assert [c[0] for c in dsb_counts.half(cases, "dev")] == order[0::2]
  image2, truth = dsb_counts.load(cases[0][1], cases[0][2])
  assert (image2 == image).all() and (truth == labels).all()
  assert dsb_counts.kind(image) == "fluorescence" and dsb_counts.kind(255 - image) == "brightfield"
  out = tmp_path / "rows.json"
  assert dsb_counts.main([f"--stage1={stage1}", "--half=heldout", "--min_objects=10",
                          "--processes=1", f"--json={out}"]) == 0
  rows = json.load(open(out))
  assert [r["id"] for r in rows] == order[1::2]
  assert all(r["count"] == 12 and r["ap"] == 1.0 and r["error"] == 0 for r in rows), rows
  assert "fluorescence: 2 images, AP@0.5 1.000" in capsys.readouterr().out
  assert dsb_counts.main([f"--stage1={tmp_path / 'none'}", "--half=dev"]) == 2
  assert "error: --stage1=" in capsys.readouterr().err
