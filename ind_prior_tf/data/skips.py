"""Bad input data: raised as DataError (ind_prior_tf/errors.py), or skipped and counted in a SkipLog.

Every bad-input problem of the data modules raises ``DataError`` (a ``ValueError``) with a one-line
message naming the file or flag. Per-item problems that can be skipped are recorded in a ``SkipLog``
and summarised with absl logging.
"""

from __future__ import annotations

import collections

from absl import logging


class SkipLog:
  """Skipped items with reasons; ``total`` is the number of items seen."""

  def __init__(self, total: int = 0):
    self.items = []  # list of (item, reason, detail)
    self.total = total

  def add(self, item, reason: str, detail: str = "") -> None:
    self.items.append((str(item), reason, detail))
    logging.debug("skipping %s: %s%s", item, reason,
                  f" ({detail})" if detail else "")

  def __len__(self) -> int:
    return len(self.items)

  def counts(self) -> dict:
    return dict(collections.Counter(r for _, r, _ in self.items))

  def summary(self, what: str = "images") -> str:
    if not self.items:
      return f"skipped 0 of {self.total} {what}"
    parts = ", ".join(f"{n} {r}" for r, n in
                      sorted(self.counts().items(), key=lambda kv: -kv[1]))
    return f"skipped {len(self.items)} of {self.total} {what}: {parts}"

  def log_summary(self, what: str = "images") -> None:
    if self.items:
      logging.warning("%s", self.summary(what))
    else:
      logging.info("%s", self.summary(what))

  def write(self, path: str) -> None:
    with open(path, "w") as f:
      for item, reason, detail in self.items:
        f.write(f"{item}\t{reason}\t{detail}\n")


def short_exc(e: BaseException) -> str:
  msg = str(e).splitlines()[0] if str(e) else ""
  return f"{type(e).__name__}: {msg}" if msg else type(e).__name__
