"""Exporting trained models: a segmenter (teacher or student run directory) or a HOC instance generator
as a TensorFlow SavedModel with a serving signature, and as a `.keras` file (`export_run`). Both load
without this package: `tf.saved_model.load(dir).signatures["serving_default"](images=x)["mask"]`, or
`keras.models.load_model(file)`.
"""
import json
import os

import tensorflow as tf

from ind_prior_tf.apply import load as segmenter
from ind_prior_tf.errors import RunError
from ind_prior_tf.postprocess import stage as postprocess
from ind_prior_tf.runtime import owned, rundir

# Input and output names of the serving signatures; any other Keras model is exported as "model".
SIGNATURE_NAMES = {"segmenter": ("images", "mask"), "generator": ("z", "rgba"),
                   "model": ("inputs", "outputs")}


def _checked_images(images, size):
  """Serving input -> float32 [N, H, W, 3] in [0, 1]: uint8 is divided by 255; anything else than
  [N, H, W, 3] RGB, or float values far above 1 (0..255 pixels not divided), fails with a message
  saying what is expected rather than a kernel's shape error deep in the network."""
  expects = (f"images: expected [N, H, W, 3] RGB, float32 in [0, 1] or uint8 in [0, 255], of any "
             f"height and width (the network sees {size} x {size})")
  shape = tf.shape(images)
  dims = tf.concat([shape, tf.zeros([4], tf.int32)], 0)[:4]  # safe to index whatever the rank
  rgb = tf.logical_and(tf.equal(tf.size(shape), 4), tf.equal(dims[3], 3))
  with tf.control_dependencies([tf.debugging.assert_equal(rgb, True, message=expects)]):
    if images.dtype == tf.uint8:
      x = tf.cast(images, tf.float32) / 255.0
    else:
      x = tf.identity(images)
      # 1.5: far above any resampling overshoot of [0, 1] images, far below 0..255 pixels.
      with tf.control_dependencies([tf.debugging.assert_less_equal(
          tf.reduce_max(x), 1.5, message=expects + "; got float values above 1: divide by 255")]):
        x = tf.identity(x)
  return tf.ensure_shape(x, [None, None, None, 3])


class _Serving(tf.Module):
  """What the SavedModel holds: the model and its signatures."""

  def __init__(self, model, kind, flip_average=False, shift_average=0):
    super().__init__()
    self.model = model
    averaged = bool(flip_average or shift_average)
    shape = list(model.input_shape)
    input_name, output_name = SIGNATURE_NAMES[kind]
    if kind != "segmenter":
      spec = tf.TensorSpec([None] + shape[1:], tf.float32, name=input_name)
      self.serve = tf.function(lambda x: {output_name: self.model(x, training=False)},
                               input_signature=[spec])
    else:
      size = shape[1]

      def segment(images):
        # The network's own size goes straight in (the very numbers model(x) gives); any other size
        # is resized in and out as segment_any_size does.
        x = _checked_images(images, size)
        hw = tf.shape(x)[1:3]
        if averaged:  # the run's recipe averages the network's masks: that part runs in here
          return {"mask": segmenter.predict(self.model, x, size=hw, flip_average=flip_average,
                                            shift_average=shift_average)}
        return {"mask": tf.cond(
            tf.reduce_all(tf.equal(hw, size)),
            lambda: self.model(tf.ensure_shape(x, [None, size, size, 3]), training=False),
            lambda: segmenter.predict(self.model, x, size=hw))}

      def segment_any_size(images):
        # Whole images of any size: resized to the network's input, masks resized back.
        return {"mask": segmenter.predict(self.model, images, flip_average=flip_average,
                                          shift_average=shift_average)}

      # One function for both input types: restored, `loaded.segment(x)` takes either.
      self.segment = tf.function(segment)
      # Any shape: checked inside, with a message (_checked_images).
      self.serve = self.segment.get_concrete_function(
          tf.TensorSpec(None, tf.float32, name=input_name))
      self.serve_uint8 = self.segment.get_concrete_function(
          tf.TensorSpec(None, tf.uint8, name=input_name))
      self.segment_any_size = tf.function(
          segment_any_size,
          input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])


def export_model(model, out_dir, kind="segmenter", metadata=None, overwrite=False, post=None):
  """kind: segmenter, generator, or model (any Keras model with one input).

  post: a segmenter's post-processing (postprocess.PostConfig, the run's recipe) or None. Its flip
  and shift averaging run inside the SavedModel's signatures; the steps after the network (the
  colour CRF, the guided filter, GrabCut: NumPy and OpenCV) cannot, so the recipe is written beside
  it as postprocess.json, which ind_prior_tf.api applies (docs/use.md).

  Writes <out_dir>/saved_model and <out_dir>/<kind>.keras, plus export.json describing the inputs.
  A segmenter's SavedModel answers images of any size: signatures serving_default (float32 in
  [0, 1]), serving_uint8 (uint8 in [0, 255]) and segment_any_size (float32, always resized), and the
  function `segment` taking either type; at the network's own size serving_default gives exactly
  the model's masks. Returns the two paths."""
  if kind not in SIGNATURE_NAMES:
    raise RunError(f"kind={kind!r}: expected one of {sorted(SIGNATURE_NAMES)}")
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    if not overwrite:
      raise RunError(f"{out_dir}: not empty; pass --overwrite or choose another --out_dir")
    # Only an earlier export is replaced: a folder of anything else is refused, nothing removed.
    owned.check_ours(out_dir, "--out_dir", owned.LEGACY_EXPORT, "an earlier export")
    owned.clear(out_dir, os.listdir(out_dir))
  os.makedirs(out_dir, exist_ok=True)
  saved = os.path.join(out_dir, "saved_model")
  post = post if kind == "segmenter" else None
  module = _Serving(model, kind, *((post.flip_average, post.shift_average) if post else ()))
  signatures = {"serving_default": module.serve}
  if kind == "segmenter":
    signatures["serving_uint8"] = module.serve_uint8
    signatures["segment_any_size"] = module.segment_any_size
  tf.saved_model.save(module, saved, signatures=signatures)
  keras_path = os.path.join(out_dir, f"{kind}.keras")
  model.save(keras_path)
  info = dict(kind=kind, input_shape=list(model.input_shape), output_shape=list(model.output_shape),
              **(metadata or {}))
  input_name, output_name = SIGNATURE_NAMES[kind]
  info["usage"] = (f"tf.saved_model.load('{saved}').signatures['serving_default']"
                   f"({input_name}=x)['{output_name}'], x float32 {info['input_shape']}")
  if kind == "segmenter":
    info["usage"] = (f"tf.saved_model.load('{saved}').signatures['serving_default']"
                     f"(images=x)['mask'], x float32 [N, H, W, 3] in [0, 1] of any size (the "
                     f"network's input is {info['input_shape'][1]} px; other sizes are resized in "
                     "and the masks back); signature serving_uint8 for uint8 [0, 255] images, or "
                     "loaded.segment(x) for either")
  if post is not None and not post.is_identity():
    postprocess.write_recipe(out_dir, post)
    info["postprocess"] = dict(
        inside_saved_model=post.network_words() or "nothing (one pass of the network)",
        outside=("postprocess.json beside it: " + post.describe() + "; apply it with "
                 "ind_prior_tf.api") if post.after_network else "nothing")
  rundir.atomic_write_text(os.path.join(out_dir, "export.json"),
                             json.dumps(info, indent=2, default=str))
  written = ["saved_model", f"{kind}.keras", "export.json"]
  if os.path.isfile(os.path.join(out_dir, postprocess.RECIPE_FILE)):
    written.append(postprocess.RECIPE_FILE)
  owned.mark(out_dir, "experiments.export", written)
  return saved, keras_path


def export_run(run_dir, out_dir, kind="auto", overwrite=False):
  """Exports the model of a run directory (a segmenter, or a HOC generator) with a segmenter run's
  recipe (its postprocess.json: export_model's post); returns (kind, checkpoint, saved_model path,
  .keras path, the recipe or None)."""
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
  post = postprocess.run_recipe(run_dir) if kind == "segmenter" else None
  saved, keras_path = export_model(model, out_dir, kind, meta, overwrite, post=post)
  return kind, ckpt, saved, keras_path, post
