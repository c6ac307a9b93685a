"""One way for tests to run an entry point: in this process (`call`, the default: no second
TensorFlow import, seconds saved per call) or as a real subprocess (`spawn`, where a process is the
point: determinism across processes, distribution, signals and kills).

Both return a Result(code, out, err); `ok()` asserts a zero exit status and shows stderr when not.
"""
import contextlib
import dataclasses
import importlib
import io
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Result:
  code: int
  out: str
  err: str

  def ok(self):
    assert self.code == 0, f"exit {self.code}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-3000:]}"
    return self

  def failed(self, code=2, *needles):
    """Asserts exit status `code` and that stderr has one `error:` line holding every needle."""
    assert self.code == code, f"exit {self.code}, expected {code}\n{self.out[-2000:]}\n{self.err[-2000:]}"
    errors = [l for l in self.err.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, self.err[-3000:]
    for needle in needles:
      assert needle in errors[0], errors[0]
    assert "Traceback" not in self.err, self.err[-3000:]
    return errors[0]


def _args(args):
  return [str(a) for a in args]


def call(module, *args):
  """Runs `module.main([module, *args])` in this process, capturing what it prints."""
  mod = importlib.import_module(module)
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = mod.main([module, *_args(args)])
  return Result(code or 0, out.getvalue(), err.getvalue())


def env(**extra):
  e = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  e.update({k: str(v) for k, v in extra.items()})
  return e


def spawn(module, *args, timeout=600, extra_env=None, cwd=ROOT):
  """Runs `python -m module args...` as a subprocess."""
  p = subprocess.run([sys.executable, "-m", module, *_args(args)], cwd=cwd,
                     env=env(**(extra_env or {})), capture_output=True, text=True, timeout=timeout)
  return Result(p.returncode, p.stdout, p.stderr)


def popen(module, *args, extra_env=None, **kwargs):
  """A running `python -m module args...` (signals, kills)."""
  return subprocess.Popen([sys.executable, "-m", module, *_args(args)], cwd=ROOT,
                          env=env(**(extra_env or {})), **kwargs)
