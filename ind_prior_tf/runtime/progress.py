"""A terminal progress bar: step, rate and ETA."""
import math
import sys
import time


class ProgressBar:
  """One line with step, rate and ETA: redrawn in place on a terminal, printed every `every`
  updates otherwise (log files and CI)."""

  def __init__(self, total, start=0, every=50, stream=None, enabled=True):
    self.total, self.start, self.every = total, start, max(1, every)
    self.stream = stream or sys.stderr
    self.enabled = enabled
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.t0 = time.time()
    self.last = start

  def update(self, step, **values):
    self.last = step
    if not self.enabled or (not self.tty and step % self.every and step != self.total):
      return
    done = step - self.start
    elapsed = max(time.time() - self.t0, 1e-9)
    rate = done / elapsed
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    frac = step / max(self.total, 1)
    bar = "#" * int(frac * 20)
    extra = " ".join(f"{k}={float(v):.3f}" for k, v in values.items())
    line = (f"[{bar:<20}] {step}/{self.total} {rate:.2f} it/s eta {format_seconds(eta)} {extra}")
    if self.tty:
      self.stream.write("\r" + line[:150].ljust(150))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()

  def close(self):
    if self.enabled and self.tty:
      self.stream.write("\n")
      self.stream.flush()


def format_seconds(s):
  if not math.isfinite(s):
    return "?"
  s = int(s)
  return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
