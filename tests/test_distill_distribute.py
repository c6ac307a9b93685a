"""A distillation step under MirroredStrategy on two logical CPU devices equals a single-device step on
the same global batch: the composites' randomness is drawn once per global batch and split by replica,
and the loss is scaled by 1/replicas.

The steps use plain SGD, whose update is linear in the gradient: a wrong split or scale moves every
variable's update by ~50%, while float round-off (one batch against two halves, synchronized against
plain batch norm) stays far below 1% of a variable's largest update (0.17% here, in a decoder
kernel), give or take a few float32 steps of the weight itself. Adam is no use here: it divides
each gradient by its own RMS, so round-off in a near-zero gradient moves that weight by up to lr; CI
once saw 47% of the weights differ by more than 1e-5 after two Adam steps on a CPU other than ours.
Both sides run on TF kernels (no XLA), so the check is about the split alone.

Logical devices must be configured before TensorFlow initialises its devices: a fresh process."""
import textwrap

from tests.run_fixtures import check_losses, run_script

SCRIPT = textwrap.dedent("""
    import keras
    from ind_prior_tf.distill import config as distill_config, model as distill_lib
    keras.utils.set_random_seed(0)
    cfg = distill_config.DistillConfig(image_size=64, width=0.125, batch_size=4, jit=False)
    single, replicated = distill_lib.Distiller(cfg), distill_lib.Distiller(cfg, strategy=mirrored)
    copy_weights(single.student.weights, replicated.student.weights)
    for d in (single, replicated):
      with d.strategy.scope():
        d.opt = keras.optimizers.SGD(1e-2)
        d.opt.build(d.student.trainable_variables)
    start = [w.numpy() for w in single.student.trainable_variables]
    rs = np.random.RandomState(0)
    images = rs.randint(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    masks = rs.randint(0, 256, (4, 64, 64, 1)).astype(np.uint8)
    pool = rs.randint(0, 256, (5, 72, 72, 3)).astype(np.uint8)
    # Step 1 feeds the global batch as one tensor (split inside the step), step 2 per-replica halves
    # from a distributed dataset, the way the entry point feeds several replicas.
    batches = iter(mirrored.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((images, masks)).repeat()))
    outs = []
    for feed in ((tf.constant(images), tf.constant(masks)), next(batches)):
      a = single.train_step(tf.constant(images), tf.constant(masks), tf.constant(pool))
      b = replicated.train_step(*feed, tf.constant(pool))
      outs.append({k: [float(a[k]), float(b[k])] for k in a})
    assert "synchronized" in str(replicated.student.get_layer("enc2_bn").get_config())
    report(start, single.student.trainable_variables, replicated.student.trainable_variables, outs)
""")


def test_mirrored_distillation_step_equals_single_device_step():
  result = run_script(SCRIPT)
  check_losses(result)
  assert len(result["diffs"]) > 10
  for name, diff in result["diffs"].items():
    update = result["updates"][name]
    assert update > 0, name  # every variable moved, so the check below has teeth
    # A batch norm's gamma moves by ~1e-6 near 1.0, where one float32 step is 1.2e-7: allow 4 steps.
    assert diff <= 1e-2 * update + 4 * result["ulps"][name], (name, diff, update)
