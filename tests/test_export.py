"""Export round trips: a segmenter and a HOC generator saved as SavedModel and .keras give back the
outputs of the trained model."""
import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from ind_prior_tf.apply import export
from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.runtime import training
from tests import entry
from tests.run_fixtures import make_generator_run, make_teacher_run, trained_looking


def test_segmenter_round_trip_saved_model_and_keras(tmp_path):
  run = str(tmp_path / "run")
  unet = make_teacher_run(run)
  trained_looking(unet)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=unet).save(2)
  kind, ckpt, saved, keras_path, _ = export.export_run(run, str(tmp_path / "out"))
  assert kind == "segmenter" and ckpt.endswith("ckpt-2")
  x = np.random.RandomState(1).uniform(size=(3, 64, 64, 3)).astype(np.float32)
  want = unet(x, training=False).numpy()

  loaded = tf.saved_model.load(saved)  # plain TensorFlow, as docs/use.md shows
  got = loaded.signatures["serving_default"](images=tf.constant(x))["mask"].numpy()
  np.testing.assert_array_equal(got, want)
  any_size = loaded.signatures["segment_any_size"](images=tf.random.uniform([2, 90, 70, 3]))
  assert any_size["mask"].shape == (2, 90, 70, 1)

  reloaded = keras.models.load_model(keras_path)
  np.testing.assert_array_equal(reloaded(x, training=False).numpy(), want)
  info = json.load(open(tmp_path / "out" / "export.json"))
  assert info["kind"] == "segmenter" and info["input_shape"] == [None, 64, 64, 3]


def test_generator_round_trip(tmp_path):
  run = str(tmp_path / "hoc")
  g = make_generator_run(run)
  kind, _, saved, keras_path, _ = export.export_run(run, str(tmp_path / "out"))
  assert kind == "generator" and keras_path.endswith("generator.keras")
  z = np.random.RandomState(2).uniform(-1, 1, (5, 4)).astype(np.float32)
  want = g(z, training=False).numpy()
  got = tf.saved_model.load(saved).signatures["serving_default"](z=tf.constant(z))["rgba"]
  np.testing.assert_array_equal(got.numpy(), want)
  np.testing.assert_array_equal(keras.models.load_model(keras_path)(z, training=False).numpy(), want)


def test_any_keras_model_and_refusal_to_overwrite(tmp_path):
  inp = keras.Input((5,))
  model = keras.Model(inp, keras.layers.Dense(2)(inp))
  out = str(tmp_path / "m")
  saved, _ = export.export_model(model, out, kind="model")
  x = np.ones([1, 5], np.float32)
  got = tf.saved_model.load(saved).signatures["serving_default"](inputs=tf.constant(x))["outputs"]
  np.testing.assert_allclose(got.numpy(), model(x).numpy(), atol=1e-6)
  with pytest.raises(training.RunError, match="--overwrite"):
    export.export_model(model, out, kind="model")
  export.export_model(model, out, kind="model", overwrite=True)


def test_entry_point(tmp_path):
  make_teacher_run(str(tmp_path / "run"))
  args = [f"--run_dir={tmp_path / 'run'}", f"--out_dir={tmp_path / 'out'}"]
  r = entry.call("experiments.export", *args).ok()
  assert r.out.startswith("exported the segmenter of ")
  assert os.path.isfile(tmp_path / "out" / "segmenter.keras")
  assert os.path.isfile(tmp_path / "out" / "saved_model" / "saved_model.pb")
  entry.call("experiments.export", *args).failed(2, "--overwrite")


def test_wrong_kind_of_run_and_bad_out_dir_are_one_line_errors(tmp_path):
  hoc = str(tmp_path / "hoc")
  make_generator_run(hoc)
  make_teacher_run(str(tmp_path / "run"))
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  out = tmp_path / "out"
  entry.call("experiments.export", f"--run_dir={hoc}", f"--out_dir={out}",
             "--kind=segmenter").failed(2, "HOC run", "not a segmenter")
  entry.call("experiments.export", f"--run_dir={tmp_path / 'run'}", f"--out_dir={out}",
             "--kind=generator").failed(2, "not a HOC generator run")
  entry.call("experiments.export", f"--run_dir={hoc}", f"--out_dir={a_file}/x").failed(
      2, "--out_dir", "not a directory")
  assert not os.path.exists(out)


def test_checkpoint_that_does_not_fit_flags_is_one_line_naming_the_run(tmp_path):
  run = str(tmp_path / "run")
  make_teacher_run(run, width=0.125)
  with open(os.path.join(run, "flags.json"), "w") as f:
    json.dump(dict(image_size=64, width=0.25, upsample="deconv"), f)
  with pytest.raises(training.RunError, match="does not fit its flags.json") as e:
    segmenter.load_run_segmenter(run)
  assert run in str(e.value) and "\n" not in str(e.value)
  with pytest.raises(training.RunError, match="flags.json: missing"):
    segmenter.load_run_segmenter(str(tmp_path / "nothing"))


def test_serving_takes_uint8_and_any_size_or_says_what_it_expects(tmp_path):
  """uint8 images (scaled to [0, 1]) and any size, in the serving signatures and
  in `loaded.segment`; other shapes and unscaled floats fail with a message naming what it expects."""
  run = str(tmp_path / "run")
  unet = make_teacher_run(run)
  trained_looking(unet)
  training.CheckpointKeeper(os.path.join(run, "ckpt"), unet=unet).save(2)
  _, _, saved, _, _ = export.export_run(run, str(tmp_path / "out"))
  loaded = tf.saved_model.load(saved)
  serve, serve_uint8 = loaded.signatures["serving_default"], loaded.signatures["serving_uint8"]
  pixels = np.random.RandomState(3).randint(0, 256, (2, 64, 64, 3)).astype(np.uint8)
  want = unet(pixels / np.float32(255.0), training=False).numpy()
  np.testing.assert_allclose(serve_uint8(images=tf.constant(pixels))["mask"].numpy(), want,
                             atol=1e-6)
  np.testing.assert_allclose(loaded.segment(tf.constant(pixels))["mask"].numpy(), want, atol=1e-6)
  # Another size: resized in and out, as segment_any_size does.
  odd = np.random.RandomState(4).randint(0, 256, (1, 90, 70, 3)).astype(np.uint8)
  got = serve_uint8(images=tf.constant(odd))["mask"].numpy()
  assert got.shape == (1, 90, 70, 1)
  np.testing.assert_allclose(
      got, loaded.signatures["segment_any_size"](images=tf.constant(odd / np.float32(255.0)))[
          "mask"].numpy(), atol=1e-6)
  assert serve(images=tf.constant(odd / np.float32(255.0)))["mask"].shape == (1, 90, 70, 1)
  for bad, needle in [(np.zeros([1, 64, 64, 4], np.float32), "expected [N, H, W, 3] RGB"),
                      (np.zeros([64, 64, 3], np.float32), "expected [N, H, W, 3] RGB"),
                      (np.full([1, 64, 64, 3], 200.0, np.float32), "divide by 255")]:
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(needle)) as e:
      serve(images=tf.constant(bad))
    assert "float32 in [0, 1] or uint8 in [0, 255]" in str(e.value)
  info = json.load(open(tmp_path / "out" / "export.json"))
  assert "serving_uint8" in info["usage"] and "any size" in info["usage"]
