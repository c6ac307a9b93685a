import json

import pytest

from ind_prior_tf import training


def test_prepare_logdir_refuses_other_flags_but_reads_missing_keys_as_defaults(tmp_path):
  logdir = str(tmp_path / "run")
  training.prepare_logdir(logdir, dict(lr=0.1, steps=10))  # a run from before `ema` existed
  # The newer version writes ema=0.0: the same experiment, so it resumes...
  training.prepare_logdir(logdir, dict(lr=0.1, steps=10, ema=0.0), defaults=dict(ema=0.0))
  assert json.load(open(tmp_path / "run" / "flags.json"))["ema"] == 0.0
  # ...while a missing key without a default, or a changed value, is refused in one line.
  with pytest.raises(training.RunError, match=r"other flags \(decay: None -> 0.5\)"):
    training.prepare_logdir(logdir, dict(lr=0.1, steps=10, ema=0.0, decay=0.5),
                            defaults=dict(ema=0.0))
  with pytest.raises(training.RunError, match="lr: 0.1 -> 0.2"):
    training.prepare_logdir(logdir, dict(lr=0.2, steps=10, ema=0.0), defaults=dict(lr=0.2))
