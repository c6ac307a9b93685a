"""Application 1's config without TensorFlow: presets under explicit flags, the checks naming the flag,
and what flags.json records (old runs must still resume: its keys do not change)."""
import dataclasses
import subprocess
import sys

import pytest

from experiments import fgseg
from ind_prior_tf.errors import FlagError
from ind_prior_tf.fgseg.config import PRESETS, RUN_FIELDS, FgSegConfig
from tests import entry


def parsed(*args):
  fgseg.F.values.unparse_flags()
  fgseg.F.values(["fgseg", *args])
  return fgseg.config_from_flags(fgseg.F)


def good(tmp_path, **kw):
  (tmp_path / "prep").mkdir(exist_ok=True)
  (tmp_path / "prep" / "meta.json").write_text("{}")
  (tmp_path / "bg.npz").write_bytes(b"")
  return FgSegConfig(**{**dict(prepared=str(tmp_path / "prep"), backgrounds=str(tmp_path / "bg.npz"),
                               logdir=str(tmp_path / "run")), **kw})


def test_the_entry_point_imports_no_tensorflow():
  """A bad flag is reported before the seconds-long TensorFlow import."""
  code = "import sys, experiments.fgseg; assert 'tensorflow' not in sys.modules"
  assert subprocess.run([sys.executable, "-c", code], env=entry.env(), cwd=entry.ROOT).returncode == 0


def test_preset_values_under_explicit_flags(monkeypatch):
  monkeypatch.delenv("RUNS", raising=False)
  c = parsed("--preset=horse-cpu", "--steps=7", "--prepared=p", "--backgrounds=b")
  assert (c.preset, c.steps, c.area_target, c.area_form, c.binarize_lambda, c.upsample) == (
      "horse-cpu", 7, 0.40, "batch_squared", 5.0, "resize")
  assert (c.pairwise_lambda, c.unary_lambda, c.border_lambda) == (3.0, 1.0, 2.0)
  assert c.logdir == "runs/fgseg" and c.recolor == 0.0 and c.jit and c.flip
  # A flag no preset sets keeps its default; the paper's Adam betas are no flags.
  c = parsed("--preset=tiny", "--name=x", "--jit=false", "--recolor=0.5")
  assert (c.image_size, c.batch_size, c.width, c.area_target, c.logdir) == (64, 8, 0.125, 0.25,
                                                                            "runs/x")
  assert (c.jit, c.recolor, c.beta1, c.beta2) == (False, 0.5, 0.5, 0.999)
  monkeypatch.setenv("RUNS", "/r")
  assert parsed("--logdir=here").logdir == "here" and parsed().logdir == "/r/fgseg"
  with pytest.raises(FlagError, match=r"^--preset=huge: expected one of paper, cpu"):
    parsed("--preset=huge")
  assert FgSegConfig.from_preset("demo", steps=3) == dataclasses.replace(
      FgSegConfig(**PRESETS["demo"]), steps=3, preset="demo")


@pytest.mark.parametrize("change, message", [
    (dict(prepared=None), "--prepared: required"),
    (dict(backgrounds=""), "--backgrounds: required"),
    (dict(prepared="/nope"), "--prepared=/nope: no meta.json there"),
    (dict(backgrounds="/nope.npz"), "--backgrounds=/nope.npz: no such file"),
    (dict(image_size=96), "--image_size=96: the UNet needs a positive multiple of 64"),
    (dict(d_width=0.0), "--d_width=0.0: must be in (0, 16]"),
    (dict(lr_g=17.0), "--lr_g=17.0: must be in (0, 16]"),
    (dict(area_lambda=-1.0), "--area_lambda=-1.0: must be >= 0"),
    (dict(area_target=2.0), "--area_target=2.0: must be a fraction in (0, 1)"),
    (dict(area_floor=1.0), "--area_floor=1.0: must be a fraction in [0, 1)"),
    (dict(save_every=0), "--save_every=0: must be >= 1"),
    (dict(tight_lambda=-1.0), "--tight_lambda=-1.0: must be >= 0"),
    (dict(pairwise_lambda=-1.0), "--pairwise_lambda=-1.0: must be >= 0"),
    (dict(recolor=1.5), "--recolor=1.5: must be a fraction in [0, 1]"),
    (dict(unary_lambda=-2.0), "--unary_lambda=-2.0: must be >= 0"),
    (dict(border_lambda=-1.0), "--border_lambda=-1.0: must be >= 0"),
    (dict(diffaug="color,zoom"), "--diffaug=color,zoom: unknown op 'zoom'"),
    (dict(ema_decay=1.0), "--ema_decay=1.0: must be in [0, 1)"),
    (dict(area_warmup=-1), "--area_warmup=-1: must be >= 0"),
    (dict(max_to_keep=0), "--max_to_keep=0: must be >= 1"),
    (dict(area_form="cubed"), "--area_form=cubed: expected one of squared, batch_squared"),
    (dict(in_memory="maybe"), "--in_memory=maybe: expected one of auto, yes, no"),
    (dict(mixed_precision="float64"), "--mixed_precision=float64: expected one of"),
    (dict(logdir="/etc/passwd/x"), "--logdir=/etc/passwd/x: /etc/passwd is not a directory"),
])
def test_validate_names_the_flag(tmp_path, change, message):
  with pytest.raises(FlagError) as e:
    good(tmp_path, **change).validate()
  assert str(e.value).startswith(message), str(e.value)


def test_flags_json_keys_are_the_gan_fields_and_the_recorded_run_fields(tmp_path):
  c = good(tmp_path).validate()
  record = c.flags_json()
  gan = {f.name for f in dataclasses.fields(FgSegConfig)} - set(RUN_FIELDS)
  assert set(record) == gan | {"prepared", "backgrounds", "split", "preset", "steps", "log_every",
                               "save_every", "eval_every", "strategy", "deterministic",
                               "max_to_keep", "logdir"}
  assert gan == {"image_size", "width", "d_width", "batch_size", "lr_d", "lr_g", "beta1", "beta2",
                 "area_lambda", "area_target", "area_form", "area_floor", "area_warmup",
                 "binarize_lambda", "tight_lambda", "smooth_lambda", "pairwise_lambda", "upsample",
                 "ema_decay",
                 "removal_lambda", "recolor", "diffaug", "flip", "jit", "mixed_precision", "seed",
                 "unary_lambda", "border_lambda"}
  assert record["prepared"] == str(tmp_path / "prep") and record["logdir"] == str(tmp_path / "run")
  source = tmp_path / "source"
  source.mkdir()
  assert good(tmp_path, init_from=str(source)).flags_json()["init_from"] == str(source)
