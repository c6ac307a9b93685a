"""One run, one writer: a lock file in the run directory (`LOCK`, created with O_EXCL, holding the
writer's pid and its start time), taken before a training touches the directory (rundir.fresh_start,
rundir.prepare_logdir) and given back when the entry point returns (cli.run) or the process exits.

A second training of the same directory is refused with one line naming the pid that holds it. A lock
left by a process that no longer runs (killed with SIGKILL: no clean-up runs) is taken over, and a line
says so; a pid reused by another process is told apart by its start time. The lock is in the run
directory, beside flags.json; nothing reads it but this module. TensorFlow-free.
"""
import atexit
import os
import sys

from ind_prior_tf.errors import RunError

LOCK = ".ind-prior-tf.lock"
_held = {}  # lock path -> the contents this process wrote
_at_exit = []  # release_all registered with atexit once


def _start_time(pid):
  """The process's start time in clock ticks since boot (Linux /proc), or '' where unknown."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return ""


def _alive(pid, started):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process: it runs
    return True
  now = _start_time(pid)
  return not (started and now and now != started)  # the same pid, a later process: the old one ended


def _read(path):
  """(pid, start time) of a lock file, or (None, '') when it cannot be read as one."""
  try:
    with open(path) as f:
      fields = f.read().split()
    return int(fields[0]), (fields[1] if len(fields) > 1 else "")
  except (OSError, ValueError, IndexError):
    return None, ""


def acquire(logdir, log=None):
  """Takes <logdir>/LOCK for this process (again: a no-op). RunError naming the pid when a running
  process holds it; a stale lock is taken over and `log` (default: stderr) says so."""
  os.makedirs(logdir, exist_ok=True)
  path = os.path.join(logdir, LOCK)
  if path in _held:
    return
  mine = f"{os.getpid()} {_start_time(os.getpid())}\n"
  for _ in range(3):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      pid, started = _read(path)
      if pid == os.getpid():
        break
      if pid is not None and _alive(pid, started):
        raise RunError(f"{logdir}: another training (pid {pid}) is writing this run; wait for it to "
                       f"end, stop it, or give another --logdir") from None
      try:  # stale: its writer no longer runs; one of several takers removes it, the others retry
        os.remove(path)
      except FileNotFoundError:
        pass
      (log or _say)(f"{logdir}: took over the lock of pid {pid if pid is not None else '?'}, "
                    "which no longer runs")
      continue
    with os.fdopen(fd, "w") as f:
      f.write(mine)
    break
  else:
    raise RunError(f"{path}: could not take the run's lock; is another training starting?")
  if not _at_exit:
    atexit.register(release_all)
    _at_exit.append(True)
  _held[path] = mine


def _say(line):
  print(line, file=sys.stderr, flush=True)


def release_all():
  """Gives back every lock this process holds (a lock another process took over stays theirs)."""
  for path, mine in list(_held.items()):
    try:
      with open(path) as f:
        if f.read() == mine:
          os.remove(path)
    except OSError:
      pass
    del _held[path]
