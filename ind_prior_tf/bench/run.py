"""make bench (experiments.bench): how close the train steps run to what this machine can do.

For every application and size, `run` prints the step time (min over `repeats` blocks of `block`
steps, one host sync per block), images/s, the step's FLOPs (counted analytically, see flops.py), the
achieved GFLOP/s, and that as a fraction of a large matmul and a large conv2d timed in the same
process; then the input pipeline's overhead (steps fed by the real tf.data pipeline versus by a batch
already in memory). The machine is usually shared: runs alternate the variants they compare and
report minima, and ratios measured within one run mean more than absolute numbers.
"""
import os
import shutil
import sys
import tempfile

from ind_prior_tf.bench.steps import BUILDERS, SIZES, Bench, layer_breakdown, timed


# ---------------------------------------------------------------------------------------------------
# Reference throughputs, measured in this process.
# ---------------------------------------------------------------------------------------------------
def reference_throughputs(quick, dtype="float32"):
  """GFLOP/s of a large matmul and a large 3x3 conv2d (the better of XLA and TF's oneDNN kernels), in
  `dtype`: a mixed-precision step is judged against convs in its own compute dtype (oneDNN's bfloat16
  convs run ~1.8x faster than float32 ones on AVX512-BF16 CPUs)."""
  import tensorflow as tf
  n = 1024 if quick else 2048
  cast = lambda t: tf.cast(t, dtype)
  a, b = cast(tf.random.normal([n, n])), cast(tf.random.normal([n, n]))
  x = cast(tf.random.normal([4 if quick else 16, 32, 32, 256]))
  w = cast(tf.random.normal([3, 3, 256, 256]))
  total = lambda t: tf.reduce_sum(tf.cast(t, tf.float32))
  cases = {
      "matmul": (lambda a, b: total(tf.matmul(a, b)), (a, b), 2 * n ** 3),
      "conv2d": (lambda x, w: total(tf.nn.conv2d(x, w, 1, "SAME")), (x, w),
                 2 * x.shape[0] * 32 * 32 * 9 * 256 * 256),
  }
  out = {}
  for name, (fn, args, flops) in cases.items():
    best = 0.0
    for jit in (True, False):
      f = tf.function(fn, jit_compile=jit)
      f(*args).numpy()
      t = min(timed(lambda: f(*args).numpy()) for _ in range(2 if quick else 5))
      best = max(best, flops / t / 1e9)
    out[name] = best
  return out


def make_pipeline(tmp, size, count, in_memory=False):
  """Endless batches from a synthetic prepared set: streamed from its TFRecords (PNG decode in the
  pipeline, as for sets over 1 GiB such as CelebA) or held in memory as uint8 (as for CUB and the
  horses: fgseg's --in_memory=auto)."""
  import numpy as np

  from ind_prior_tf.data import pipeline, prepared
  s = SIZES[size]
  n, b = s["image_size"], s["batch_size"]
  rng = np.random.RandomState(0)
  examples = ({"image": (rng.uniform(size=(n, n, 3)) * 255).astype(np.uint8), "mask": None, "id": i,
               "is_train": True} for i in range(count))
  prep = os.path.join(tmp, "prepared")
  prepared.write_prepared(prep, examples, n, source="bench")
  return pipeline.training_dataset(prep, b, n, in_memory=in_memory)


def pipeline_overhead(bench, dataset, repeats, block):
  """(seconds per step fed from memory, fed by the pipeline): alternating blocks, minima."""
  it = iter(dataset)
  gan, pool = bench.gan, bench.pool
  fed = lambda: gan.train_step(next(it), pool)
  fed_bench = Bench("fed", fed, bench.flops, bench.batch, bench.sync)
  fed_bench.time_block(1)  # retrace for the pipeline's tensors, fill the prefetch buffer
  memory, pipe = [], []
  for _ in range(repeats):
    memory.append(bench.time_block(block))
    pipe.append(fed_bench.time_block(block))
  return min(memory), min(pipe)


# ---------------------------------------------------------------------------------------------------
# The PyTorch peer: each side timed in its own worker process (peer.py says why and how).
# ---------------------------------------------------------------------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
PEER_DTYPES = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def time_step(app, size, jit, policy, repeats, block):
  """Seconds per step of one train step built in this process (bench's worker): one step to compile,
  then the minimum over `repeats` blocks of `block` steps."""
  bench = BUILDERS[app](size, jit, policy)
  bench.time_block(1)
  return min(bench.time_block(block) for _ in range(repeats))


def peer_sides(size, jits, policy, repeats, block, device="cpu"):
  """The PyTorch peer and our fgseg step (one side per XLA setting) as worker commands, each with
  its framework's default threads: nothing here sets OMP_*, torch's or TF's thread counts."""
  from ind_prior_tf.bench import peer  # pylint: disable=g-import-not-at-top
  s = SIZES[size]
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  torch_argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_torch.py"),
                f"--size={s['image_size']}", f"--width={s['width']}", f"--batch={s['batch_size']}",
                f"--steps={block}", f"--repeats={repeats}", f"--device={device}"]
  if PEER_DTYPES[policy]:
    torch_argv.append(f"--autocast={PEER_DTYPES[policy]}")
  sides = [peer.Side("torch", torch_argv, env, ROOT)]
  for jit in jits:
    sides.append(peer.Side("xla" if jit else "no-xla", [
        sys.executable, "-m", "experiments.bench", "--worker", "--apps=fgseg", f"--sizes={size}",
        f"--jit={'on' if jit else 'off'}", f"--mixed_precision={policy}", f"--repeats={repeats}",
        f"--block={block}"], env, ROOT))
  return sides


def torch_available():
  try:
    import importlib.util
    return importlib.util.find_spec("torch") is not None
  except ValueError:
    return False


# ---------------------------------------------------------------------------------------------------
def run(apps=("fgseg", "distill", "hoc"), sizes=("paper", "cpu"), jit="both",
        mixed_precision="float32", repeats=3, block=2, pipeline=True, peer_torch=False,
        layers=False, quick=False):
  """Times the train steps of `apps` at `sizes` (quick: tiny networks, one block of one step),
  printing the table as it goes; returns the results (make bench's JSON). jit: "both", "on" (XLA)
  or "off"; the other arguments are experiments.bench's flags."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  sizes = ["quick"] if quick else list(sizes)
  repeats, block = (1, 1) if quick else (repeats, block)
  jits = {"both": (True, False), "on": (True,), "off": (False,)}[jit]
  from ind_prior_tf.runtime import devices  # pylint: disable=g-import-not-at-top
  where = devices.announce(policy=mixed_precision, jit=jit != "off")  # GPU rows run on the GPU
  if jit == "both":
    where = where[:-len("XLA")] + "XLA and no XLA"
  gpu = bool(tf.config.list_physical_devices("GPU"))
  results = dict(machine=_machine(), tf=tf.__version__, policy=mixed_precision, devices=where,
                 steps=[])
  print(f"bench {where}; machine: {results['machine']}; TensorFlow {tf.__version__}", flush=True)
  ref = reference_throughputs(quick)
  results["reference_gflops"] = dict(ref)
  print(f"reference (same process): matmul {ref['matmul']:.0f} GFLOP/s, conv2d 3x3 "
        f"{ref['conv2d']:.0f} GFLOP/s (float32)")
  dtype = keras.DTypePolicy(mixed_precision).compute_dtype
  ref32 = ref
  if dtype != "float32":
    # The fractions (/matmul, /conv2d) use the references in the step's compute dtype; /f32 conv
    # keeps the float32 conv2d as the yardstick, which shows the speed-up of the policy itself.
    ref32, ref = ref, reference_throughputs(quick, dtype)
    results["reference_gflops_" + dtype] = dict(ref)
    print(f"reference in {dtype}: matmul {ref['matmul']:.0f} GFLOP/s, conv2d 3x3 "
          f"{ref['conv2d']:.0f} GFLOP/s")
  header = (f"{'step':<22}{'ms/step':>9}{'img/s':>9}{'GFLOP/step':>12}{'GFLOP/s':>9}"
            f"{'/matmul':>9}{'/conv2d':>9}" + (f"{'/f32 conv':>10}" if dtype != "float32" else ""))
  print(header)
  for app_name in apps:
    for size in sizes:
      variants = {}
      for jit in jits:
        try:
          variants[jit] = BUILDERS[app_name](size, jit, mixed_precision)
        except ImportError as e:
          print(f"{app_name}: skipped ({e})")
          break
        variants[jit].time_block(1)  # compile
      if not variants:
        continue
      times = _time_steps(results, variants, app_name, size, repeats, block, dtype, ref,
                          ref32 if dtype != "float32" else None)
      if len(variants) == 2:
        print(f"{'':<22}XLA speed-up: {min(times[False]) / min(times[True]):.2f}x")
      if app_name == "fgseg" and size in ("paper", "quick"):
        paper = [r for r in results["steps"] if r["app"] == "fgseg" and r["size"] == size]
        best = max(r["of_conv2d"] for r in paper)
        print(f"{'':<22}target: paper-size step >= 0.80 of conv2d ({dtype}): {best:.2f} "
              f"({'met' if best >= 0.8 else 'missed'})")
      if app_name == "fgseg" and layers:
        _layers(results, variants, size, ref, repeats)
      if app_name == "fgseg" and pipeline:
        _pipeline(results, variants, size, quick, repeats, block)
      if app_name == "fgseg" and peer_torch and size != "quick":
        _peer(results, list(variants), size, mixed_precision, repeats, block, gpu)
  return results


def _time_steps(results, variants, app_name, size, repeats, block, dtype, ref, ref32):
  """Times each variant (XLA or not) of one step, alternating them so that load changes hit them
  alike; appends and prints a row for each. Returns {jit: [seconds per step of each repeat]}."""
  times = {jit: [] for jit in variants}
  for _ in range(repeats):
    for jit, bench in variants.items():
      times[jit].append(bench.time_block(block))
  for jit, bench in variants.items():
    t = min(times[jit])
    gflops = bench.flops / t / 1e9
    row = dict(app=app_name, size=size, jit=jit, ms_per_step=1e3 * t,
               images_per_s=bench.batch / t, gflop_per_step=bench.flops / 1e9,
               gflops=gflops, of_matmul=gflops / ref["matmul"],
               of_conv2d=gflops / ref["conv2d"])
    if ref32 is not None:
      row["of_conv2d_float32"] = gflops / ref32["conv2d"]
    results["steps"].append(row)
    label = f"{app_name} {size} {'xla' if jit else 'no-xla'}"
    print(f"{label:<22}{row['ms_per_step']:>9.1f}{row['images_per_s']:>9.1f}"
          f"{row['gflop_per_step']:>12.2f}{gflops:>9.1f}{row['of_matmul']:>9.2f}"
          f"{row['of_conv2d']:>9.2f}"
          + (f"{row['of_conv2d_float32']:>10.2f}" if ref32 is not None else ""))
  return times


def _pipeline(results, variants, size, quick, repeats, block):
  """The fgseg step fed by tf.data (uint8 in memory, then PNG TFRecords) against a fixed batch."""
  bench = variants[True] if True in variants else variants[False]
  for in_memory, label in ((True, "uint8 in memory"), (False, "PNG TFRecords")):
    tmp = tempfile.mkdtemp(prefix="bench-")
    try:
      dataset = make_pipeline(tmp, size, count=64 if quick else 256, in_memory=in_memory)
      memory, pipe = pipeline_overhead(bench, dataset, repeats + 1, block)
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
    overhead = pipe / memory - 1.0
    key = "pipeline_" + size + ("_memory" if in_memory else "_stream")
    results[key] = dict(memory_ms=1e3 * memory, pipeline_ms=1e3 * pipe, overhead=overhead)
    print(f"{'':<22}input pipeline: {1e3 * pipe:.1f} ms/step fed by tf.data ({label}) vs "
          f"{1e3 * memory:.1f} from a fixed batch: overhead {100 * overhead:+.1f}% (target "
          f"<= 5%: {'met' if overhead <= 0.05 else 'missed'})")


def _layers(results, variants, size, ref, repeats):
  bench = next(iter(variants.values()))
  rows = []
  print(f"{'':<22}each conv layer alone, forward + both gradients (batch {bench.batch}):")
  for model in (bench.gan.unet, bench.gan.discriminator):
    for name, shape, seconds, flops in layer_breakdown(model, bench.batch, list(variants), repeats):
      cells = "  ".join(f"{'xla' if j else 'no-xla'} {1e3 * t:6.1f} ms {flops / t / 1e9:5.0f} GFLOP/s"
                        f" ({flops / t / 1e9 / ref['conv2d']:.2f})" for j, t in seconds.items())
      print(f"{'':<24}{model.name + '/' + name:<26}{str(shape):<16}{cells}")
      rows.append(dict(model=model.name, layer=name, input_shape=list(shape), flops=flops,
                       **{("xla_ms" if j else "no_xla_ms"): 1e3 * t for j, t in seconds.items()}))
  results["layers_" + size] = rows


def _peer(results, jits, size, policy, repeats, block, gpu):
  from ind_prior_tf.bench import peer  # pylint: disable=g-import-not-at-top
  if not torch_available():
    print(f"{'':<22}torch peer: skipped (torch is not installed; it is never a dependency)")
    return
  rounds = max(repeats, 3)
  print(f"{'':<22}PyTorch peer (eager), each side in its own process, one alone and then {rounds} "
        "rounds alternating; ms/step min / median / alone:", flush=True)
  sides = peer_sides(size, jits, policy, 2, block, "cuda" if gpu else "cpu")
  comparison = peer.compare(sides, rounds=rounds,
                            log=lambda line: print(f"{'':<26}{line}", flush=True))
  labels = {"torch": "PyTorch", "xla": "ours XLA", "no-xla": "ours no-XLA"}
  ours = [s.name for s in sides[1:]]
  for line in peer.describe(comparison, "torch", ours, labels):
    print(f"{'':<24}{line}")
  results["peer_" + size] = dict(
      rounds={n: [1e3 * t.seconds for t in ts] for n, ts in comparison.rounds.items()},
      alone={n: 1e3 * t.seconds for n, t in comparison.alone.items()},
      notes={n: t.note for n, t in comparison.alone.items()}, load=comparison.load,
      refusals=comparison.refusals(),
      ratio={n: comparison.ratio("torch", n) for n in ours},
      ratio_of_medians={n: comparison.ratio("torch", n, comparison.median) for n in ours})


def _machine():
  from ind_prior_tf.runtime import devices  # pylint: disable=g-import-not-at-top
  return (f"{devices.cpu_name()} ({devices.cpu_features()}), {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
