"""Comparing our train step with a peer framework's: each side timed in its own process, one at a time.

Why whole processes: a ratio measured with both sides alive in one machine measures their thread pools
fighting for the cores (TF's spinning workers against the peer's OpenMP threads) more than the steps.
Here every timing is a fresh worker process started while no other worker runs: the sides alternate
(A B A B ...) for `rounds` rounds, and each side is also timed once "alone" before the rounds, after a
pause that lets the machine settle. The harness guards itself: when a side's median time in the rounds
is more than `tolerance` off its alone time, something besides the step moved the numbers (the
machine's load, the harness): no ratio involving that side is printed, and `Comparison.refusals`
says why instead.

A worker is any command whose last line of output starts with its seconds per step (a float),
optionally followed by a note on its settings, e.g. `0.812345 s/step (torch 2.13.0, 2 threads)`.
TensorFlow-free.
"""
import dataclasses
import os
import statistics
import subprocess
import time
from typing import Dict, List, Optional, Sequence

from ind_prior_tf.errors import RunError


@dataclasses.dataclass
class Side:
  """One side of a comparison: a name and the command of its worker."""
  name: str
  argv: Sequence[str]
  env: Optional[Dict[str, str]] = None
  cwd: Optional[str] = None


@dataclasses.dataclass
class Timing:
  seconds: float  # per step, as the worker reported it
  note: str = ""  # what the worker said about its settings


def run_worker(side, timeout=3600):
  """Runs a side's worker to completion and returns its Timing; RunError when it fails."""
  try:
    p = subprocess.run(list(side.argv), env=side.env, cwd=side.cwd, capture_output=True, text=True,
                       timeout=timeout)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise RunError(f"{side.name} worker: {e}") from e
  lines = [l for l in p.stdout.splitlines() if l.strip()]
  if p.returncode != 0 or not lines:
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    raise RunError(f"{side.name} worker exited with status {p.returncode}: {tail}")
  first, _, rest = lines[-1].strip().partition(" ")
  try:
    seconds = float(first)
  except ValueError:
    raise RunError(f"{side.name} worker: no seconds per step in {lines[-1]!r}") from None
  rest = rest.strip()
  if rest.startswith("s/step"):
    rest = rest[len("s/step"):].strip()
  return Timing(seconds, rest.strip("()"))


@dataclasses.dataclass
class Comparison:
  """Each side's alone Timing and its Timings in the alternating rounds (seconds per step)."""
  alone: Dict[str, Timing]
  rounds: Dict[str, List[Timing]]
  tolerance: float = 0.05
  load: List[float] = dataclasses.field(default_factory=list)  # 1-minute load before each worker

  def minimum(self, name):
    return min(t.seconds for t in self.rounds[name])

  def median(self, name):
    return statistics.median(t.seconds for t in self.rounds[name])

  def drift(self, name):
    """The side's median in the rounds against its alone time, minus 1 (0.12: 12% slower)."""
    return self.median(name) / self.alone[name].seconds - 1.0

  def refusals(self, labels=None, names=None):
    """One sentence per side (of `names`, default all) whose rounds are more than `tolerance` off
    its alone time."""
    out = []
    for name in names or self.rounds:
      d = self.drift(name)
      if abs(d) > self.tolerance:
        out.append(f"{(labels or {}).get(name, name)}'s median in the rounds, "
                   f"{1e3 * self.median(name):.0f} ms/step, is {100 * abs(d):.1f}% "
                   f"{'slower' if d > 0 else 'faster'} than its alone time, "
                   f"{1e3 * self.alone[name].seconds:.0f} ms (more than "
                   f"{100 * self.tolerance:.0f}%)")
    return out

  def ratio(self, peer, ours, of=None):
    """peer / ours of the minima (of=median: of the medians); None when the guard refuses either
    side."""
    if self.refusals(names=[peer, ours]):
      return None
    of = of or self.minimum
    return of(peer) / of(ours)


def compare(sides, rounds=3, tolerance=0.05, settle=2.0, run=run_worker, log=None,
            sleep=time.sleep):
  """Times every side once alone, then `rounds` rounds alternating the sides, one worker process at a
  time (`run(side)` returns when its process has exited). Returns a Comparison."""
  if len({s.name for s in sides}) != len(sides):
    raise ValueError("sides need distinct names")
  load = []

  def timed(side, what):
    load.append(os.getloadavg()[0])
    t = run(side)
    if log:
      log(f"{side.name} ({what}): {1e3 * t.seconds:.1f} ms/step, load {load[-1]:.1f}")
    return t

  alone = {}
  for side in sides:
    sleep(settle)  # the last worker's exit (freeing memory, its threads) is over before this one
    alone[side.name] = timed(side, "alone")
  times = {s.name: [] for s in sides}
  for r in range(rounds):
    for side in sides:
      times[side.name].append(timed(side, f"round {r + 1}"))
  return Comparison(alone, times, tolerance, load)


def describe(comparison, peer, ours, labels=None):
  """The lines make bench prints: every side's min / median / alone, then the ratios or the refusal.
  `ours` is a list of names; labels maps names to display labels."""
  labels = labels or {}
  c = comparison
  lines = []
  for name in [peer, *ours]:
    note = c.alone[name].note
    lines.append(f"{labels.get(name, name)}: {1e3 * c.minimum(name):.0f} / {1e3 * c.median(name):.0f}"
                 f" / {1e3 * c.alone[name].seconds:.0f} ms ({100 * c.drift(name):+.1f}% off alone)"
                 + (f"; {note}" if note else ""))
  load = f"1-minute load {min(c.load):.1f}-{max(c.load):.1f}" if c.load else ""
  fair = [o for o in ours if c.ratio(peer, o) is not None]
  if fair:
    lines.append("ratio (peer / ours, >1: ours faster; of minima, of medians): " + ", ".join(
        f"{labels.get(o, o)} {c.ratio(peer, o):.2f}x, {c.ratio(peer, o, c.median):.2f}x"
        for o in fair) + (f" ({load})" if load else ""))
  refused = [o for o in ours if o not in fair]
  if refused:
    lines.append(f"no ratio for {', '.join(labels.get(o, o) for o in refused)}: "
                 + "; ".join(c.refusals(labels, [peer, *refused]))
                 + (f" ({load}): " if load else ": ")
                 + "the machine was not quiet enough for an honest one")
  return lines
