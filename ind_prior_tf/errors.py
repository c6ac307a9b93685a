"""The errors every part of the project reports, in one TensorFlow-free module.

The entry points' wrapper (`cli.run`) turns them into exit codes: a bad flag, file or run is one
`error:` line and status 2; a non-finite loss is status 1 (its last good checkpoint is kept).
"""


class FlagError(ValueError):
  """A flag value the run cannot take; the message names the flag (`--name=value: why`)."""


class RunError(ValueError):
  """A problem with a run's configuration or directory, reported as one line."""


class DataError(ValueError):
  """Bad input data (a missing list file, a malformed line, an unreadable image ...)."""


class EmptyBoxError(DataError):
  """A box of zero area after clipping to its image."""


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or Inf; the last good checkpoint is kept."""
