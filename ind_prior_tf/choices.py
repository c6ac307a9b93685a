"""The named choices of flags and configs, without importing TensorFlow (entry points check flags
before the seconds-long TensorFlow import)."""
from ind_prior_tf.errors import FlagError

AREA_FORMS = ("squared", "batch_squared", "hinge", "linear")  # losses.area_penalty
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")    # precision.set_policy
STRATEGIES = ("default", "mirrored", "multi_worker")         # training.make_strategy
UPSAMPLES = ("deconv", "resize")                             # networks.unet, instance_generator
SPLITS = ("all", "train", "test")                            # prepared sets
DIFFAUG_OPS = ("color", "translation", "cutout")              # diffaug.augment
POSTPROCESS = ("run", "none", "chain")                       # apply.config.resolve_post
POLARITIES = ("auto", "bright", "dark")                      # hoc.instances.baseline.side_mask
MAX_SHIFT = 32  # --shift_average's largest shift (segmenter.masks_of): a quarter of 128 px inputs
MAX_CONTEXT = 2  # --crf_context's widest window around the box, in box sizes on each side


def parse_diffaug(policy):
  """The ops of a --diffaug policy, "color,translation,cutout" -> a tuple in DIFFAUG_OPS's order; ""
  is () (off). Here, not in diffaug.py, so that configs check it before the TensorFlow import."""
  names = [n.strip() for n in policy.split(",")] if policy.strip() else []
  for name in names:
    if name not in DIFFAUG_OPS or names.count(name) > 1:
      why = "given twice" if name in DIFFAUG_OPS else f"unknown op {name!r}"
      raise FlagError(f"--diffaug={policy}: {why}; expected a comma-separated subset of "
                      f"{', '.join(DIFFAUG_OPS)}, or empty (off)")
  return tuple(n for n in DIFFAUG_OPS if n in names)
