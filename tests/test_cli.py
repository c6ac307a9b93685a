"""The entry points' shared wrapper: flag parsing, presets and exit codes, on a toy entry point."""
import os
import signal
import threading

import pytest

from ind_prior_tf import cli
from ind_prior_tf.errors import DataError, FlagError, NonFiniteLossError, RunError


def toy(action):
  F = cli.Flags("A toy entry point.")
  F.integer("steps", 10, "Steps.")
  F.string("name", None, "A name.")
  F.enum("form", "a", ["a", "b"], "A form.")
  F.float("lr", 1.0, "A rate.")
  seen = {}

  def fn(flags):
    seen.update(steps=flags.steps, name=flags.name, given=flags.given("steps"))
    return action(flags)
  return F, fn, seen


def run(action, *args):
  F, fn, seen = toy(action)
  return cli.run(fn, F, ["toy", *args]), seen


def test_parses_flags_and_returns_the_functions_code():
  code, seen = run(lambda f: 7, "--steps=3", "--name=x")
  assert code == 7 and seen == dict(steps=3, name="x", given=True)
  code, seen = run(lambda f: None)
  assert code == 0 and seen == dict(steps=10, name=None, given=False)


def test_a_second_call_starts_from_the_defaults():
  F, fn, seen = toy(lambda f: None)
  assert cli.run(fn, F, ["toy", "--steps=3"]) == 0 and seen["steps"] == 3
  assert cli.run(fn, F, ["toy"]) == 0 and seen == dict(steps=10, name=None, given=False)


@pytest.mark.parametrize("args", [["--steps=abc"], ["--form=c"], ["--nope=1"], ["stray"],
                                  ["--steps=1", "stray", "more"]])
def test_bad_command_lines_are_one_error_line_and_status_2(args, capsys):
  code, seen = run(lambda f: 0, *args)
  err = capsys.readouterr().err
  assert code == 2 and seen == {}
  assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


@pytest.mark.parametrize("exc, code", [(FlagError("--x=1: bad"), 2), (RunError("run"), 2),
                                       (DataError("data"), 2), (FileNotFoundError(2, "No such file",
                                                                                 "/x/y"), 2),
                                       (NonFiniteLossError("nan"), 1), (KeyboardInterrupt(), 130)])
def test_errors_become_exit_codes(exc, code, capsys):
  def boom(f):
    raise exc
  assert run(boom)[0] == code
  err = capsys.readouterr().err
  if code != 130:
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
  if isinstance(exc, OSError):
    assert "/x/y" in err


def test_other_exceptions_are_not_swallowed():
  def boom(f):
    raise ZeroDivisionError("a bug")
  with pytest.raises(ZeroDivisionError):
    run(boom)


def test_help_prints_the_doc_and_flags(capsys):
  assert run(lambda f: 1, "--help")[0] == 0
  out = capsys.readouterr().out
  assert "A toy entry point." in out and "--steps" in out


def test_sigterm_is_an_interrupt_and_the_handler_is_restored():
  before = signal.getsignal(signal.SIGTERM)

  def wait_for_term(f):
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
    for _ in range(100):
      threading.Event().wait(0.05)
    return 0
  assert run(wait_for_term)[0] == 130
  assert signal.getsignal(signal.SIGTERM) == before


def test_resolve_presets():
  F, fn, _ = toy(lambda f: None)
  presets = {"small": dict(steps=2, lr=0.5)}
  got = {}
  cli.run(lambda f: got.update(cli.resolve(f, presets, "small", ("steps", "lr", "form"))), F,
          ["toy", "--lr=0.25"])
  assert got == dict(steps=2, lr=0.25, form="a")  # flag beats preset beats default
  with pytest.raises(FlagError, match="--preset=big"):
    cli.resolve(F, presets, "big", ("steps",))


def test_require_names_the_missing_flag():
  F, _, _ = toy(lambda f: None)
  cli.run(lambda f: None, F, ["toy"])
  with pytest.raises(FlagError, match="--name: required"):
    cli.require(F, "steps", "name")


def test_version(capsys):
  from ind_prior_tf import __version__  # pylint: disable=g-import-not-at-top
  assert run(lambda f: 1, "--version")[0] == 0
  assert capsys.readouterr().out.strip() == f"ind-prior-tf {__version__}"


def test_tensorflow_start_up_lines_are_dropped_and_everything_else_passes(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  from tests import entry  # pylint: disable=g-import-not-at-top
  script = (
      "import os, sys\n"
      "from ind_prior_tf import cli\n"
      "def fn(f):\n"
      "  os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called ...\\n')\n"
      "  os.write(2, b'I0000 00:00:1 12 port.cc:153] oneDNN custom operations are on.\\n')\n"
      "  os.write(2, b'[####] 1/2 progress\\n')\n"
      "  print('error: kept', file=sys.stderr)\n"
      "  return 0\n"
      "sys.exit(cli.run(fn, cli.Flags(''), ['x']))\n")
  for level, noise in (("2", False), ("0", True)):
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       cwd=entry.ROOT, env=entry.env(TF_CPP_MIN_LOG_LEVEL=level))
    assert p.returncode == 0
    assert "[####] 1/2 progress\n" in p.stderr and "error: kept\n" in p.stderr
    assert ("oneDNN" in p.stderr) == noise and ("InitializeLog" in p.stderr) == noise
