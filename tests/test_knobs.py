"""Each knob defined once: every flag of an entry point that is a field of its config defaults to the
field's default (a preset, the dataset or the teacher may then set it), and knobs.define_config_flags
makes a flag of each knob field with the field's default, help and type."""
import dataclasses
import importlib
import shlex
from typing import Optional

import pytest

from ind_prior_tf import cli, knobs
from ind_prior_tf.apply import config as apply_config
from ind_prior_tf.apply import consistency
from ind_prior_tf.distill import config as distill_config
from ind_prior_tf.fgseg import config as fgseg_config
from ind_prior_tf.hoc import auto as hoc_auto
from ind_prior_tf.hoc import config as hoc_config
from ind_prior_tf.hoc.instances import count as hoc_count
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.refine import config as refine_config

# Each entry point and the configs its flags fill.
CONFIGS = {
    "fgseg": [fgseg_config.FgSegConfig],
    "distill": [distill_config.DistillConfig],
    "hoc": [hoc_config.HocConfig, hoc_config.HocRun],
    "hoc_eval": [hoc_config.HocEvalConfig],
    "hoc_auto": [hoc_auto.AutoConfig],
    "hoc_instances": [hoc_count.CountConfig],
    "evaluate": [apply_config.EvalConfig, postprocess.PostConfig],
    "segment": [apply_config.SegmentConfig, postprocess.PostConfig],
    "consistency": [consistency.ConsistencyConfig],
    "refine": [refine_config.RefineConfig],
}
# Flags whose default None (or name) means "found elsewhere", not the field's value.
RESOLVED_ELSEWHERE = {
    ("fgseg", "preset"): "the preset applied; the field records its name (None: built in Python)",
    ("fgseg", "logdir"): "None: $RUNS/<--name>",
    ("distill", "image_size"): "None: the teacher's",
    ("distill", "width"): "None: the teacher's",
    ("distill", "upsample"): "None: the teacher's",
    **{("refine", n): "None: from --dataset (refine_config.DATASETS) or --prepared"
       for n in ("prepared", "backgrounds", "student_backgrounds", "chain", "teacher_preset",
                 "student_preset", "score_split")},
}


def field_default(field):
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return field.default


def as_field(flag_default, default):
  """A flag's default as its config reads it: comma lists and shell words become tuples, a number
  written as text ('0.13') a number."""
  if isinstance(default, tuple) and isinstance(flag_default, list):
    return tuple(type(default[0])(v) for v in flag_default) if default else tuple(flag_default)
  if isinstance(default, tuple) and isinstance(flag_default, str):
    return tuple(shlex.split(flag_default))
  if isinstance(default, float) and isinstance(flag_default, str):
    return float(flag_default)
  return flag_default


@pytest.mark.parametrize("entry", sorted(CONFIGS))
def test_every_flag_defaults_to_its_config_fields_default(entry):
  F = importlib.import_module(f"experiments.{entry}").F
  compared = 0
  for cls in CONFIGS[entry]:
    for field in dataclasses.fields(cls):
      if field.name not in F.values or (entry, field.name) in RESOLVED_ELSEWHERE:
        continue
      default = field_default(field)
      assert as_field(F[field.name].default, default) == default, (entry, cls.__name__, field.name)
      compared += 1
  assert compared >= 3, entry
  for entry_name, flag in RESOLVED_ELSEWHERE:
    if entry_name == entry:
      assert F[flag].default != field_default(
          next(f for c in CONFIGS[entry] for f in dataclasses.fields(c) if f.name == flag))


@dataclasses.dataclass
class Example:
  size: int = knobs.knob(64, "The size.")
  rate: float = knobs.knob(0.5, "The rate.")
  name: Optional[str] = knobs.knob(None, "A name.")
  mode: str = knobs.knob("a", "The mode.", choices=("a", "b"))
  on: bool = knobs.knob(True, "Whether it is on.")
  internal: int = 3  # no help: not a flag


def test_define_config_flags_makes_each_knob_a_flag():
  F = cli.Flags()
  knobs.define_config_flags(F, Example, skip=("rate",))
  assert sorted(F.values) == ["mode", "name", "on", "size"]
  F.values(["prog", "--size=128", "--mode=b", "--noon", "--name=x"])
  assert (F.size, F.mode, F.on, F.name) == (128, "b", False, "x")
  assert F["size"].default == 64 and F["size"].help == "The size."
  assert F["mode"].parser.enum_values == ["a", "b"]
  with pytest.raises(Exception):
    F.values(["prog", "--size=big"])
