"""--deterministic semantics: two runs with the same seed give bit-identical weights, with and without
XLA. Thread settings must be made before TensorFlow initialises, so each run is a fresh process."""
import textwrap

import pytest

from tests import run_fixtures

RUN = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from ind_prior_tf.fgseg import gan as fgseg_lib
    from ind_prior_tf.runtime import training
    training.set_determinism(seed=3, deterministic=True)  # first, before TF builds anything
    import tensorflow as tf
    data = np.random.RandomState(0)
    images = data.uniform(size=(4, 64, 64, 3)).astype(np.float32)
    pool = data.uniform(size=(5, 80, 80, 3)).astype(np.float32)
    jit = sys.argv[1] == "xla"
    cfg = fgseg_lib.FgSegConfig(image_size=64, width=0.125, d_width=0.125, batch_size=4, jit=jit,
                                seed=3)
    gan = fgseg_lib.FgSegGAN(cfg)
    for _ in range(3):
      gan.train_step(tf.constant(images), tf.constant(pool))
    h = hashlib.sha256()
    for v in gan.unet.weights + gan.discriminator.weights + [gan.rng.state]:
      h.update(v.numpy().tobytes())
    digests = {sys.argv[1]: h.hexdigest()}
    print("RESULT " + json.dumps(digests))
""")


def run_once(path):
  """The script for `path` (xla or no_xla) in a fresh process (the point: TensorFlow initialised
  anew), with entry.spawn's environment."""
  return run_fixtures.run_python(RUN, path)


# CI runs the TF-kernel path, where parallel scheduling could reorder reductions (set_determinism);
# `make test-all` runs the XLA path as well (each pair of runs is two TensorFlow starts and compiles).
@pytest.mark.parametrize("path", [pytest.param("xla", marks=pytest.mark.slow), "no_xla"])
def test_two_deterministic_runs_give_bit_identical_weights(path):
  first, second = run_once(path), run_once(path)
  assert list(first) == [path] and first == second
