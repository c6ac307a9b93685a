"""What every entry point shares: its own flag registry, preset resolution, and one wrapper that turns
errors into exit codes. TensorFlow-free, so that a bad flag is reported before TensorFlow's import.

An entry point (see experiments/export.py for the smallest) reads:

    F = cli.Flags(__doc__)
    F.string("run_dir", None, "Run directory.")
    ...
    def _main(flags): ...               # calls one library function, prints its result
    def main(argv=None): return cli.run(_main, F, argv)
    if __name__ == "__main__": sys.exit(main())

Each entry point has its own `absl.flags.FlagValues`, not absl's global one, so that tests can import
several entry points into one process and call `main([...])` directly (two modules defining --seed in
the global registry would clash). Exit codes: 0 done; 2 a bad flag, file, data or run (one `error:`
line naming it, nothing trained or overwritten); 1 a non-finite loss (the last good checkpoint kept);
130 interrupted by Ctrl-C or SIGTERM (the current step saved by the training loop).
"""
import dataclasses
import os
import signal
import sys
import threading

from absl import flags

# TensorFlow's C++ INFO lines (CPU features, oneDNN, XLA service, checkpoint sharding) are noise to a
# user; TF_CPP_MIN_LOG_LEVEL=0 in the environment shows them again (and the start-up lines below).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ind_prior_tf import choices, knobs
from ind_prior_tf.errors import DataError, FlagError, NonFiniteLossError, RunError
from ind_prior_tf.runtime import runlock

EXIT_BAD_INPUT, EXIT_NON_FINITE, EXIT_INTERRUPTED = 2, 1, 130
HELP_ARGS = ("-h", "--help", "--helpshort", "--helpfull", "-?")


class Flags:
  """One entry point's flags: absl's DEFINE_* bound to a FlagValues of its own. `F.name` reads a
  parsed value, `F["name"].present` says whether it was given on the command line."""

  def __init__(self, doc=""):
    self.values = flags.FlagValues()
    self.doc = (doc or "").strip()

  def _define(self, definer, name, default, help_text, **kwargs):
    definer(name, default, help_text, flag_values=self.values, **kwargs)

  def string(self, name, default, help_text):
    self._define(flags.DEFINE_string, name, default, help_text)

  def integer(self, name, default, help_text, **kwargs):
    self._define(flags.DEFINE_integer, name, default, help_text, **kwargs)

  def float(self, name, default, help_text, **kwargs):
    self._define(flags.DEFINE_float, name, default, help_text, **kwargs)

  def boolean(self, name, default, help_text):
    self._define(flags.DEFINE_boolean, name, default, help_text)

  def enum(self, name, default, choices, help_text):
    flags.DEFINE_enum(name, default, list(choices), help_text, flag_values=self.values)

  def __getattr__(self, name):
    if name in ("values", "doc"):
      raise AttributeError(name)
    return getattr(self.values, name)

  def __getitem__(self, name):
    return self.values[name]

  def given(self, name):
    """True when --name was on the command line (it then overrides a preset)."""
    return self.values[name].present > 0

  def help(self):
    return f"{self.doc}\n\nflags:\n{self.values.get_help()}\n"


def define_run_flags(F, *, save_every, overwrite_removes, networks="networks"):
  """The run flags the three training entry points (fgseg, distill, hoc) share: --seed --jit
  --mixed_precision --strategy --deterministic --overwrite --log_every --save_every --max_to_keep
  --progress. overwrite_removes: what --overwrite deletes, for its help."""
  F.integer("seed", 0, "Seed of every random generator.")
  F.boolean("jit", True, "XLA-compile the train step (not on CPU for resize-conv networks, "
            "--upsample=resize, where XLA is slower: docs/performance.md).")
  F.enum("mixed_precision", "float32", choices.POLICIES,
         f"Keras dtype policy of the {networks} (see ind_prior_tf/core/precision.py); float32 on CPUs.")
  F.enum("strategy", "default", choices.STRATEGIES, "tf.distribute strategy.")
  F.boolean("deterministic", False, "Deterministic kernels (slower).")
  F.boolean("overwrite", False, f"Start afresh in --logdir: delete its {overwrite_removes}.")
  F.integer("log_every", 50, "Steps between loss checks, TensorBoard scalars and log lines.")
  F.integer("save_every", save_every, "Steps between checkpoints.")
  F.integer("max_to_keep", 3, "Checkpoints kept.")
  F.boolean("progress", True, "Show a progress bar.")


def define_postprocess_flags(F, defaults):
  """The flags of the post-processing stage (ind_prior_tf/postprocess/stage.py) that
  experiments.evaluate and experiments.segment share: --postprocess and one flag per field of
  `defaults` (the postprocess.stage.PostConfig class, passed in so that this module stays free of its
  imports), made from the fields (knobs), which post_flags reads back."""
  F.string("postprocess", "run",
           "What is done to the network's masks: run (the run's own postprocess.json, which the "
           "refinement chain writes into its result; nothing when it has none), none (the "
           "network's masks as they are), chain (the default chain's recipe), or a "
           "postprocess.json file. Any flag below given on the command line overrides its value "
           "(docs/use.md).")
  knobs.define_config_flags(F, defaults)


def post_flags(F, defaults):
  """{field: value} of the post-processing flags given on the command line."""
  return {f.name: F[f.name].value for f in dataclasses.fields(defaults) if F.given(f.name)}


def resolve(F, presets, preset, names):
  """{name: value} for `names` after a preset: a flag given on the command line wins, then the preset's
  value, then the flag's default. An unknown preset is a FlagError naming --preset."""
  if preset not in presets:
    raise FlagError(f"--preset={preset}: expected one of {', '.join(presets)}")
  chosen = presets[preset]
  return {n: F[n].value if F.given(n) or n not in chosen else chosen[n] for n in names}


def build_config(F, cls, presets, names, **extra):
  """cls(**values) for a config dataclass: each of its fields that is a flag of F, then the preset's
  values for `names` under the flags given (resolve), then `extra`."""
  values = {f.name: F[f.name].value for f in dataclasses.fields(cls) if f.name in F.values}
  values.update(resolve(F, presets, F.preset, names))
  values.update(extra)
  return cls(**values)


def require(F, *names):
  """FlagError for the first of `names` that was not given a value."""
  for name in names:
    if F[name].value in (None, ""):
      raise FlagError(f"--{name}: required")


def error(message):
  print(f"error: {message}", file=sys.stderr, flush=True)


def _os_message(e):
  where = e.filename if e.filename is not None else ""
  return f"{where}: {e.strerror or e}" if where else str(e.strerror or e)


# TensorFlow's C++ start-up lines that TF_CPP_MIN_LOG_LEVEL does not silence (printed while the library
# loads, before its logging is set up).
_STARTUP_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "port.cc:",
                  "cpu_feature_guard.cc:", "To enable the following instructions:")


class _StartupFilter:
  """While TensorFlow is not yet imported, fd 2 goes through a pipe whose reader drops its start-up
  lines and passes every other line on at once (progress bars, errors); `close` restores fd 2."""

  def __init__(self):
    self.saved = os.dup(2)
    # A terminal stays a terminal (a pseudo-terminal in between), so that progress bars still
    # redraw in place; anything else gets a pipe.
    read, write = os.openpty() if os.isatty(2) else os.pipe()
    os.dup2(write, 2)
    os.close(write)
    self.thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
    self.thread.start()

  def _pump(self, read):
    with os.fdopen(read, "rb", buffering=0) as pipe:
      pending = b""
      while True:
        try:
          chunk = pipe.read(4096)
        except OSError:  # a pseudo-terminal whose last writer closed (EIO): the end
          chunk = b""
        if not chunk:
          break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
          if not any(n.encode() in line for n in _STARTUP_NOISE):
            os.write(self.saved, line + b"\n")
        if pending and b"\r" in pending:  # a progress bar redrawn in place: pass it on now
          os.write(self.saved, pending)
          pending = b""
      if pending:
        os.write(self.saved, pending)

  def close(self):
    sys.stderr.flush()
    os.dup2(self.saved, 2)  # closes the pipe's last writer: the reader drains and ends
    self.thread.join(timeout=10)
    os.close(self.saved)


def _quiet_startup():
  """The filter, unless TensorFlow is already loaded or the user asked for its lines."""
  if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
    return None
  try:
    return _StartupFilter()
  except OSError:  # no fd 2 to filter (a detached process): nothing to hide
    return None


def _interrupt(signum, frame):  # pylint: disable=unused-argument
  raise KeyboardInterrupt(f"signal {signum}")


def run(fn, F, argv=None):
  """Parses argv (default sys.argv) into F, calls fn(F) and returns the exit code: fn's return value
  (None is 0), or the code of the error it raised. SIGTERM is handled like Ctrl-C while fn runs, so
  that `timeout`, Slurm and Kubernetes stops save the current step as Ctrl-C does."""
  argv = list(sys.argv if argv is None else argv)
  if any(a in HELP_ARGS for a in argv[1:]):
    try:
      print(F.help(), flush=True)
    except BrokenPipeError:  # `--help | head`: the reader has what it wanted
      sys.stdout = open(os.devnull, "w")  # pylint: disable=consider-using-with
    return 0
  if "--version" in argv[1:]:
    from ind_prior_tf import __version__  # pylint: disable=g-import-not-at-top
    print(f"ind-prior-tf {__version__}")
    return 0
  F.values.unparse_flags()  # a second call in one process (tests) starts from the defaults
  try:
    rest = F.values(argv)
  except flags.Error as e:
    error(e)
    return EXIT_BAD_INPUT
  if len(rest) > 1:
    error(f"unexpected arguments {' '.join(rest[1:])!r}: every option is a --flag (see --help)")
    return EXIT_BAD_INPUT
  previous = None
  try:
    previous = signal.signal(signal.SIGTERM, _interrupt)
  except ValueError:  # not the main thread: leave signals alone
    pass
  quiet = _quiet_startup()
  try:
    code = fn(F)
    return 0 if code is None else int(code)
  except (FlagError, RunError, DataError) as e:
    error(e)
    return EXIT_BAD_INPUT
  except OSError as e:
    error(_os_message(e))
    return EXIT_BAD_INPUT
  except NonFiniteLossError as e:
    error(e)
    return EXIT_NON_FINITE
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED
  finally:
    runlock.release_all()  # the run directories this command wrote (rundir.prepare_logdir)
    if quiet is not None:
      quiet.close()
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


def finish_training(result, summary=""):
  """The last line of a training entry point; 130 when the run was interrupted (its step saved)."""
  if result["status"] == "interrupted":
    print(f"interrupted at step {result['step']}; checkpoint {result['checkpoint']}", flush=True)
    return EXIT_INTERRUPTED
  print(f"step {result['step']}: checkpoint {result['checkpoint']}{summary}", flush=True)
  return 0


def default_logdir(name):
  """$RUNS/<name> (RUNS=runs): where a run goes when --logdir is not given."""
  return os.path.join(os.environ.get("RUNS") or "runs", name)
