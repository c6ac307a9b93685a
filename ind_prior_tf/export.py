"""Exporting trained models: a segmenter (teacher or student run directory) or a HOC instance generator
as a TensorFlow SavedModel with a serving signature, and as a `.keras` file (`export_run`). Both load
without this package: `tf.saved_model.load(dir).signatures["serving_default"](images=x)["mask"]`, or
`keras.models.load_model(file)`.
"""
import json
import os
import shutil

import tensorflow as tf

from ind_prior_tf import segmenter
from ind_prior_tf import rundir
from ind_prior_tf.errors import RunError


# Input and output names of the serving signatures; any other Keras model is exported as "model".
SIGNATURE_NAMES = {"segmenter": ("images", "mask"), "generator": ("z", "rgba"),
                   "model": ("inputs", "outputs")}


class _Serving(tf.Module):
  """What the SavedModel holds: the model and its signatures."""

  def __init__(self, model, kind):
    super().__init__()
    self.model = model
    shape = list(model.input_shape)
    input_name, output_name = SIGNATURE_NAMES[kind]
    spec = tf.TensorSpec([None] + shape[1:], tf.float32, name=input_name)

    def serve(x):
      return {output_name: self.model(x, training=False)}

    self.serve = tf.function(serve, input_signature=[spec])
    if kind == "segmenter":
      def segment_any_size(images):
        # Whole images of any size: resized to the network's input, masks resized back.
        return {"mask": segmenter.predict(self.model, images)}

      self.segment_any_size = tf.function(
          segment_any_size,
          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])


def export_model(model, out_dir, kind="segmenter", metadata=None, overwrite=False):
  """kind: segmenter, generator, or model (any Keras model with one input).

Writes <out_dir>/saved_model (signatures serving_default, and for segmenters segment_any_size)
  and <out_dir>/<kind>.keras, plus export.json describing the inputs. Returns the two paths."""
  if kind not in SIGNATURE_NAMES:
    raise RunError(f"kind={kind!r}: expected one of {sorted(SIGNATURE_NAMES)}")
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    if not overwrite:
      raise RunError(f"{out_dir}: not empty; pass --overwrite or choose another --out_dir")
    shutil.rmtree(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  saved = os.path.join(out_dir, "saved_model")
  module = _Serving(model, kind)
  signatures = {"serving_default": module.serve}
  if kind == "segmenter":
    signatures["segment_any_size"] = module.segment_any_size
  tf.saved_model.save(module, saved, signatures=signatures)
  keras_path = os.path.join(out_dir, f"{kind}.keras")
  model.save(keras_path)
  info = dict(kind=kind, input_shape=list(model.input_shape), output_shape=list(model.output_shape),
              **(metadata or {}))
  input_name, output_name = SIGNATURE_NAMES[kind]
  info["usage"] = (f"tf.saved_model.load('{saved}').signatures['serving_default']"
                   f"({input_name}=x)['{output_name}'], x float32 {info['input_shape']}")
  rundir.atomic_write_text(os.path.join(out_dir, "export.json"),
                             json.dumps(info, indent=2, default=str))
  return saved, keras_path


def export_run(run_dir, out_dir, kind="auto", overwrite=False):
  """Exports the model of a run directory (a segmenter, or a HOC generator); returns
  (kind, checkpoint, saved_model path, .keras path)."""
  config = segmenter.read_run_config(run_dir)
  kind = segmenter.run_kind(config) if kind == "auto" else kind
  if kind == "segmenter":
    model, config, ckpt = segmenter.load_run_segmenter(run_dir)
  elif kind == "generator":
    model, config, ckpt = segmenter.load_generator(run_dir)
  else:
    raise RunError(f"kind={kind!r}: expected auto, segmenter or generator")
  meta = dict(run_dir=os.path.abspath(run_dir), checkpoint=os.path.abspath(ckpt),
              **{k: config[k] for k in ("image_size", "width", "upsample", "z_dim") if k in config})
  saved, keras_path = export_model(model, out_dir, kind, meta, overwrite)
  return kind, ckpt, saved, keras_path
