"""make bench: how close the train steps run to what this machine can do (a benchmark, not a test).

  python -m experiments.bench                  # paper-size and CPU-preset steps, XLA on and off
  python -m experiments.bench --quick          # a smoke run in well under a minute
  python -m experiments.bench --peer_torch     # also the PyTorch peer, each side in its own process
  python -m experiments.bench --apps=fgseg --layers   # and every conv layer of its networks alone

For every application and size it prints the step time, images/s, the step's FLOPs, the achieved
GFLOP/s and that as a fraction of a large matmul and conv2d timed in the same process, then the input
pipeline's overhead: ind_prior_tf/bench/run.py says how, docs/performance.md how to read it.
"""
import json
import sys

from absl import flags

from ind_prior_tf import cli
from ind_prior_tf.errors import FlagError

F = cli.Flags(__doc__)
F.boolean("quick", False, "Tiny networks and few steps: checks that every field prints.")
flags.DEFINE_list("apps", ["fgseg", "distill", "hoc"], "Applications to time (missing ones are "
                  "skipped).", flag_values=F.values)
flags.DEFINE_list("sizes", ["paper", "cpu"], "paper: Table 1 (128 px, width 1, batch 16); cpu: the "
                  "CPU preset (64 px, width 0.25, batch 32).", flag_values=F.values)
F.enum("jit", "both", ["both", "on", "off"], "Time the XLA step, the TF-kernel step or both.")
F.enum("mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
       "Keras policy of the timed steps (float32 on CPUs; bf16/fp16 for GPUs).")
F.integer("repeats", 3, "Timed blocks per variant (the minimum is reported).")
F.integer("block", 2, "Steps per timed block (one host sync per block).")
F.boolean("pipeline", True, "Measure the input pipeline's overhead (fgseg).")
F.boolean("peer_torch", False, "Also time the PyTorch peer step (ind_prior_tf/bench/peer_torch.py) against "
          "ours, each side in its own process, alternating; needs torch.")
F.boolean("layers", False, "Also time every conv layer of the fgseg UNet and discriminator alone "
          "(forward + both gradients): which shapes run slowly.")
F.string("json", None, "Also write the results to this JSON file.")
F.boolean("worker", False, "The --peer_torch harness's worker: time the fgseg step of the first "
          "--sizes with --jit=on or off in this process and print its seconds per step.")


APPS, SIZES = ("fgseg", "distill", "hoc"), ("paper", "cpu")


def _main(F):
  for name, known in (("apps", APPS), ("sizes", SIZES)):
    unknown = [v for v in F[name].value if v not in known]
    if unknown:
      raise FlagError(f"--{name}={','.join(F[name].value)}: unknown {', '.join(unknown)} "
                      f"(expected some of {', '.join(known)})")
  from ind_prior_tf.bench import run as bench  # pylint: disable=g-import-not-at-top
  if F.worker:
    return _worker(F, bench)
  results = bench.run(F.apps, F.sizes, F.jit, F.mixed_precision, F.repeats, F.block, F.pipeline,
                      F.peer_torch, F.layers, F.quick)
  if F.json:
    with open(F.json, "w") as f:
      json.dump(results, f, indent=2)


def _worker(F, bench):
  if F.jit == "both" or F.apps != ["fgseg"]:
    raise FlagError("--worker: needs --apps=fgseg and --jit=on or off")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  seconds = bench.time_step("fgseg", F.sizes[0], F.jit == "on", F.mixed_precision, F.repeats,
                            F.block)
  threads = (tf.config.threading.get_intra_op_parallelism_threads(),
             tf.config.threading.get_inter_op_parallelism_threads())
  print(f"{seconds:.6f} s/step (TensorFlow {tf.__version__}, {F.mixed_precision}, intra-/inter-op "
        f"threads {threads[0]}/{threads[1]}, 0 = TF's default: one per core)")


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
