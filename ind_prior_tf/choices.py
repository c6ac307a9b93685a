"""The named choices of flags and configs, without importing TensorFlow (entry points check flags
before the seconds-long TensorFlow import)."""

AREA_FORMS = ("squared", "batch_squared", "hinge", "linear")  # losses.area_penalty
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")    # precision.set_policy
STRATEGIES = ("default", "mirrored", "multi_worker")         # training.make_strategy
UPSAMPLES = ("deconv", "resize")                             # networks.unet, instance_generator
SPLITS = ("all", "train", "test")                            # prepared sets
