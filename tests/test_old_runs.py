"""Run directories written before the last redesign (tests/old_runs: the flags.json of a tiny fgseg,
distill and HOC run and of an ensemble, and the names and shapes of their checkpoints' variables, as
the code of that time wrote them) still load and resume: their kind is read from flags.json
(runinfo), their checkpoints' keys are the ones today's models save, and resuming adds the kind to
flags.json without touching another key."""
import json
import os
import shutil

import pytest
import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.core import networks
from ind_prior_tf.distill import config as distill_config
from ind_prior_tf.distill import model as distill_lib
from ind_prior_tf.errors import RunError
from ind_prior_tf.fgseg import config as fgseg_config
from ind_prior_tf.fgseg import gan as fgseg_lib
from ind_prior_tf.hoc import config as hoc_config
from ind_prior_tf.hoc import gan as hoc_lib
from ind_prior_tf.runtime import rundir, runinfo, training

OLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old_runs")


def old_flags(name):
  with open(os.path.join(OLD, name, "flags.json")) as f:
    return json.load(f)


def old_keys(name):
  with open(os.path.join(OLD, name, "checkpoint_keys.txt")) as f:
    return f.read().split("\n")[:-1]


def saved_keys(tmp_path, objects):
  path = training.CheckpointKeeper(str(tmp_path / "ckpt"), **objects).manager.save(1)
  return [f"{n} {list(s)}" for n, s in tf.train.list_variables(path)]


def test_the_kind_of_old_runs_is_read_from_their_flags():
  assert [runinfo.kind(old_flags(n)) for n in ("fgseg", "distill", "hoc", "ensemble")] == [
      "fgseg", "distill", "hoc", "ensemble"]
  assert "application" not in old_flags("fgseg") and "application" not in old_flags("hoc")
  assert runinfo.is_segmenter(old_flags("fgseg")) and runinfo.is_generator(old_flags("hoc"))
  assert runinfo.kind(dict(old_flags("hoc"), application="instances")) == "instances"


def test_a_run_without_flags_is_one_error_line(tmp_path):
  assert runinfo.try_read_flags(str(tmp_path)) is None
  with pytest.raises(RunError, match="flags.json: missing"):
    runinfo.read_flags(str(tmp_path))
  (tmp_path / "flags.json").write_text("[1, 2]")
  with pytest.raises(RunError, match="not a run's flags"):
    runinfo.read_flags(str(tmp_path))


def test_todays_models_save_the_keys_of_old_checkpoints(tmp_path):
  flags = old_flags("fgseg")
  gan = fgseg_lib.FgSegGAN(fgseg_config.FgSegConfig(
      **{f: flags[f] for f in fgseg_config.FgSegConfig().gan_fields()}))
  assert saved_keys(tmp_path / "fgseg", gan.checkpoint_objects()) == old_keys("fgseg")
  flags = old_flags("hoc")
  gan = hoc_lib.HocGAN(hoc_config.HocConfig(**{k: flags[k] for k in hoc_config.config_fields()}))
  assert saved_keys(tmp_path / "hoc", gan.checkpoint_objects()) == old_keys("hoc")
  flags = old_flags("distill")
  student = distill_lib.Distiller(distill_config.DistillConfig(
      **{k: flags[k] for k in distill_config.training_dict(distill_config.DistillConfig())}))
  assert saved_keys(tmp_path / "distill", student.checkpoint_objects()) == old_keys("distill")


def test_old_runs_load(tmp_path):
  for name in ("fgseg", "distill", "hoc", "ensemble"):
    shutil.copytree(os.path.join(OLD, name), tmp_path / name)
  for name in ("fgseg", "distill"):
    spec = segmenter.unet_spec(old_flags(name))
    unet = networks.unet(spec[0], spec[1], upsample=spec[2])
    training.CheckpointKeeper(str(tmp_path / name / "ckpt"), unet=unet).save(3)
  flags = old_flags("hoc")
  generator = networks.instance_generator(flags["z_dim"], flags["image_size"], flags["width"],
                                          upsample=flags["upsample"])
  training.CheckpointKeeper(str(tmp_path / "hoc" / "ckpt"), generator=generator).save(3)
  for name in ("fgseg", "distill"):
    _, config, path = segmenter.load_segmenter(str(tmp_path / name))
    assert config == old_flags(name) and path.endswith("ckpt-3")
  model, _, path = segmenter.load_segmenter(str(tmp_path / "ensemble"))
  assert path.count(" + ") == 1
  assert segmenter.load_generator(str(tmp_path / "hoc"))[1] == old_flags("hoc")
  with pytest.raises(RunError, match="a HOC run, not a segmenter"):
    segmenter.load_segmenter(str(tmp_path / "hoc"))
  with pytest.raises(RunError, match="a fgseg run, not a HOC generator run"):
    segmenter.load_generator(str(tmp_path / "fgseg"))


def test_an_old_run_resumes_and_gains_its_kind(tmp_path):
  for name, kind in (("fgseg", "fgseg"), ("hoc", "hoc"), ("distill", "distill")):
    run = tmp_path / name
    shutil.copytree(os.path.join(OLD, name), run)
    flags = old_flags(name)
    rundir.prepare_logdir(str(run), flags, kind=kind)  # the same flags: no refusal
    with open(run / "flags.json") as f:
      assert json.load(f) == dict(flags, application=kind)
  with pytest.raises(RunError, match="holds a run with other flags"):
    rundir.prepare_logdir(str(tmp_path / "fgseg"), dict(old_flags("fgseg"), width=0.5), kind="fgseg")
