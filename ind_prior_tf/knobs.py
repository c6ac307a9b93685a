"""Each knob defined once: a config dataclass's field made with `knob` carries its flag's default, help
and (for an enum) choices, and `define_config_flags` makes an entry point's absl flags from those
fields. TensorFlow- and absl-free, so that configs import it before anything heavy.

Why not ml_collections.config_flags (DEFINE_config_dataclass) or fiddle's absl flags, which both
install from pip: each defines one flag that holds the whole config, its fields set as
`--config.image_size=64` (fiddle: `--config=fiddler:...`, `--config.x=...`), so every flag name that
users, make targets, shell scripts and the refinement chain's commands type today would change, and
presets would become a second kind of override. Keeping the names takes the few lines below.
"""
import dataclasses
import typing


def knob(default, help_text, choices=None):
  """A config field that is also its entry point's flag: the field's default is the flag's, and its
  help (and for an enum its choices) are written here once; define_config_flags makes the flag."""
  metadata = {"help": help_text}
  if choices is not None:
    metadata["choices"] = tuple(choices)
  return dataclasses.field(default=default, metadata=metadata)


def _flag_type(field):
  """bool, int, float or str: the absl flag type of a config field (Optional[...] unwrapped)."""
  kind = field.type
  if typing.get_origin(kind) is typing.Union:
    kind = next(a for a in typing.get_args(kind) if a is not type(None))
  if kind not in (bool, int, float, str):
    raise TypeError(f"{field.name}: no flag type for {kind!r}")
  return kind


def define_config_flags(F, cls, skip=()):
  """One flag of F per field of the config dataclass `cls` made with `knob` (fields without help
  are not flags), but `skip`: its name, default, help and type (or enum choices) are the field's."""
  for field in dataclasses.fields(cls):
    if "help" not in field.metadata or field.name in skip:
      continue
    name, default, help_text = field.name, field.default, field.metadata["help"]
    if "choices" in field.metadata:
      F.enum(name, default, field.metadata["choices"], help_text)
      continue
    definer = {bool: F.boolean, int: F.integer, float: F.float, str: F.string}[_flag_type(field)]
    definer(name, default, help_text)
