"""Drift guard for a refactor that must not change what the code computes.

Builds a tiny prepared set and background pool with the project's own entry points, trains tiny
`--deterministic` runs of the three applications (fgseg, distill, HOC) and scores, segments and
checks the segmenters, every step a subprocess with the command line a user would type. Then prints
one JSON object (also written to --out) of sha256 digests:

  raw, prepared           the demo raw set's and the prepared set's files (temp paths masked out)
  backgrounds             the pool's arrays
  fgseg, distill, hoc     every variable of the run's latest checkpoint: sorted names, each hashed
                          with its dtype, shape and raw bytes
  evaluate_*              evaluate's per_image.csv, scores.json (without paths) and cases.png, for
                          the fgseg run (the paper's protocol) and the distilled student (with
                          flip-averaging and GrabCut)
  segment                 experiments.segment's masks and cut-outs of the raw images by their boxes
  consistency             experiments.consistency's report on the student against its teacher

`values` holds a second digest per run that ignores the variables' names (the sorted per-variable
digests of dtype + shape + bytes): if `digests` differ but `values` match, the refactor renamed
checkpoint keys without changing a number.

  python tools/drift_checksums.py --out=/tmp/sums.json            # one pass, ~1.5 minutes on 2 cores
  python tools/drift_checksums.py --repeat=2                      # twice, in two fresh temp dirs
  python tools/drift_checksums.py --compare=docs/drift_baseline.json  # exit 1 on any difference

Only flags that exist before the redesign are used, and the redesign keeps flag names, so the same
commands run on both sides. HOC runs with --jit=false: the redesign moves HOC's random draws out of
its replica step (one draw per global batch); drawn in the same order they are the same numbers, but
XLA may fuse the new step differently, and without XLA the digest checks the arithmetic rather than
the compiler's choices. After 20 steps the masks are noise, so GrabCut falls back to them: its
plumbing (raw records, boxes) runs, its cut does not.
"""
import argparse
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7
TMP = "<tmp>"  # stands for the work directory in recorded commands and hashed JSON files
MARKER = ".ind-prior-tf"  # ind_prior_tf.runtime.owned.MARKER


def commands(work):
  """[(stage, stages it needs, [argv after `python -m`])], the critical path first."""
  raw, prep, pool, runs = (os.path.join(work, n) for n in ("raw", "prep", "bg.npz", "runs"))
  fgseg, distill, hoc = (os.path.join(runs, n) for n in ("fgseg", "distill", "hoc"))
  run = [f"--seed={SEED}", "--deterministic", "--noprogress"]
  return [
      ("demo", (), ["data_prep.demo", f"--out_dir={raw}", "--count=40", "--size=128",
                    "--background_images=4", "--seed=0", "--overwrite"]),
      # 96 px crops for 64 px networks: training, teacher labels and scoring all resize.
      ("prepared", ("demo",), ["data_prep.cub", f"--cub_root={raw}/cub", f"--out_dir={prep}",
                               "--size=96", "--overwrite"]),
      ("backgrounds", ("demo",), ["data_prep.backgrounds", f"--image_dir={raw}/backgrounds",
                                  f"--out={pool}", "--size=64", "--count=64", "--seed=0"]),
      ("fgseg", ("prepared", "backgrounds"), [
          "experiments.fgseg", f"--prepared={prep}", "--split=train", f"--backgrounds={pool}",
          "--preset=tiny", "--steps=20", "--log_every=5", "--save_every=10", "--eval_every=10",
          "--eval_count=16", f"--logdir={fgseg}", *run]),
      # With the additions to the paper's recipe, so that the teacher-labelling code (flips, GrabCut,
      # label_keep) that moves out of the entry point is covered.
      ("distill", ("fgseg",), [
          "experiments.distill", f"--teacher={fgseg}", f"--prepared={prep}",
          f"--backgrounds={pool}", "--preset=tiny", "--steps=20", "--log_every=5",
          "--save_every=10", "--eval_every=10", "--eval_count=16", "--flip_average_labels",
          "--grabcut_iters=1", "--label_keep=0.75", f"--logdir={distill}", *run]),
      # HOC without XLA: see the module docstring.
      ("hoc", (), ["experiments.hoc", "--preset=coins_cpu", "--steps=10", "--batch_size=8",
                   "--log_every=5", "--save_every=10", "--image_every=0", "--jit=false",
                   # coins_cpu as it was when the baseline was recorded
                   "--support_lambda=0", "--binary_lambda=0", "--n_layers=6", "--area_target=0.18",
                   "--background=disk", "--color=rgb", "--hist_lambda=0",
                   f"--logdir={hoc}", *run]),
      ("evaluate", ("fgseg",), ["experiments.evaluate", f"--run_dir={fgseg}", f"--prepared={prep}",
                                "--split=all", f"--out_dir={work}/eval", "--cases=2"]),
      ("evaluate_distill", ("distill",), [
          "experiments.evaluate", f"--run_dir={distill}", f"--prepared={prep}", "--split=test",
          f"--out_dir={work}/eval_distill", "--cases=2", "--flip_average", "--grabcut_iters=1",
          "--grabcut_sure=0.05"]),
      # Files with boxes: the crop and the paste back into the image (the box clipping the redesign
      # merges), at each image's own size.
      ("segment", ("distill",), [
          "experiments.segment", f"--run_dir={distill}", f"--images={raw}/cub/images.txt",
          f"--boxes={raw}/cub/bounding_boxes.txt", f"--out_dir={work}/segment", "--flip_average",
          "--grabcut_iters=1", "--noprogress"]),
      # The refinement chain's check; --max_drop=1 never fires, its path still runs.
      ("consistency", ("distill",), [
          "experiments.consistency", f"--run_dir={distill}", f"--prepared={prep}",
          f"--baseline={fgseg}", "--all_checkpoints", "--max_drop=1"]),
  ]


def run_stage(stage, argv, work, python):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", RUNS=os.path.join(work, "runs"),
             CUDA_VISIBLE_DEVICES="")
  start = time.time()
  proc = subprocess.run([python, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=900)
  if proc.returncode:
    raise RuntimeError(f"{stage} exited {proc.returncode}: {' '.join(argv)}\n{proc.stderr[-4000:]}")
  return stage, time.time() - start, proc.stdout


def run_all(work, python, jobs=2):
  """Runs every stage, `jobs` at a time once their inputs exist. Each stage writes only its own
  outputs, so the order they finish in changes no digest."""
  pending = commands(work)
  done, running, seconds, stdout = set(), {}, {}, {}
  with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    while pending or running:
      for item in [p for p in pending if set(p[1]) <= done][:jobs - len(running)]:
        pending.remove(item)
        running[pool.submit(run_stage, item[0], item[2], work, python)] = item[0]
      finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in finished:
        del running[future]
        stage, seconds[stage], stdout[stage] = future.result()
        done.add(stage)
  return seconds, stdout


def masked(value, work):
  """JSON value with the work directory replaced by TMP, so two temp dirs hash alike."""
  if isinstance(value, str):
    return value.replace(work, TMP)
  if isinstance(value, list):
    return [masked(v, work) for v in value]
  if isinstance(value, dict):
    return {k: masked(v, work) for k, v in value.items()}
  return value


def json_bytes(path, work, drop=()):
  with open(path) as f:
    value = json.load(f)
  value = {k: v for k, v in value.items() if k not in drop} if isinstance(value, dict) else value
  return json.dumps(masked(value, work), sort_keys=True).encode()


def tfrecord_bytes(path):
  """A TFRecord file of tf.train.Examples as its content, not its bytes: protobuf writes an Example's
  feature map in an order that changes from process to process. Per record, per sorted feature
  name: its values, PNGs as their decoded pixels."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  parts = []
  for record in tf.data.TFRecordDataset(path):
    features = tf.train.Example.FromString(record.numpy()).features.feature
    for name in sorted(features):
      kind = features[name].WhichOneof("kind")
      values = getattr(features[name], kind).value
      if kind == "bytes_list":
        digests = [array_digest(np.asarray(Image.open(io.BytesIO(v)))) if v.startswith(b"\x89PNG")
                   else hashlib.sha256(v).hexdigest() for v in values]
      else:
        digests = [array_digest(np.asarray(values, np.int64 if kind == "int64_list" else np.float32))]
      parts.append(f"{name}:{kind}:{','.join(digests)}")
    parts.append("")
  return "\n".join(parts).encode()


def tree_digest(top, work):
  """sha256 over a directory's files: relative path, then content (JSON re-serialised, TFRecords
  parsed, the temp dir masked out)."""
  h = hashlib.sha256()
  for dirpath, dirnames, filenames in os.walk(top):
    dirnames.sort()
    for name in sorted(filenames):
      if name == MARKER:  # which entries a command wrote (ind_prior_tf/runtime/owned.py), not a result
        continue
      path = os.path.join(dirpath, name)
      h.update(os.path.relpath(path, top).encode() + b"\0")
      if name.endswith(".json"):
        h.update(json_bytes(path, work))
      elif name.endswith(".tfrecord"):
        h.update(tfrecord_bytes(path))
      else:
        with open(path, "rb") as f:
          h.update(f.read().replace(work.encode(), TMP.encode()))
      h.update(b"\0")
  return h.hexdigest()


def array_digest(array, name=None):
  import numpy as np  # pylint: disable=g-import-not-at-top
  array = np.ascontiguousarray(array)
  h = hashlib.sha256()
  if name is not None:
    h.update(name.encode() + b"\0")
  h.update(f"{array.dtype.str}{array.shape}".encode() + b"\0")
  if array.dtype == object:  # string tensors
    for item in array.ravel():
      h.update(item if isinstance(item, bytes) else str(item).encode())
      h.update(b"\0")
  else:
    h.update(array.tobytes())
  return h.hexdigest()


def npz_digest(path):
  """The arrays of an .npz (not the zip, whose entries carry timestamps)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  with np.load(path, allow_pickle=False) as data:
    for name in sorted(data.files):
      h.update(array_digest(data[name], name).encode())
  return h.hexdigest()


# The serialised object graph is the checkpoint's structure, not a value; the redesign may rename
# objects and `values` covers that case.
SKIP_KEYS = ("_CHECKPOINTABLE_OBJECT_GRAPH",)


def checkpoint_digests(logdir):
  """(prefix name, names digest, values digest, {key: digest}) of <logdir>/ckpt's latest checkpoint."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  prefix = tf.train.latest_checkpoint(os.path.join(logdir, "ckpt"))
  if prefix is None:
    raise RuntimeError(f"{logdir}/ckpt: no checkpoint")
  reader = tf.train.load_checkpoint(prefix)
  keys = sorted(k for k in reader.get_variable_to_dtype_map() if k not in SKIP_KEYS)
  per_key = {k: array_digest(reader.get_tensor(k)) for k in keys}
  names = hashlib.sha256("".join(f"{k}\0{per_key[k]}\0" for k in keys).encode()).hexdigest()
  values = hashlib.sha256("".join(sorted(per_key.values())).encode()).hexdigest()
  return os.path.basename(prefix), names, values, per_key


def evaluate_digests(out_dir, work, prefix):
  with open(os.path.join(out_dir, "per_image.csv"), "rb") as f:
    per_image = f.read()
  # Paths and the checkpoint's location are where the run was, not what it computed.
  scores = json_bytes(os.path.join(out_dir, "scores.json"), work,
                      drop=("run_dir", "prepared", "checkpoint"))
  with open(os.path.join(out_dir, "cases.png"), "rb") as f:
    cases = f.read()
  sha = lambda b: hashlib.sha256(b).hexdigest()
  rows = list(csv.DictReader(io.StringIO(per_image.decode())))
  return ({f"{prefix}_per_image": sha(per_image), f"{prefix}_scores": sha(scores),
           f"{prefix}_cases_png": sha(cases)}, json.loads(scores), len(rows))


def one_pass(work, python, per_variable):
  seconds, stdout = run_all(work, python)
  result = {"digests": {}, "values": {}, "checkpoints": {}, "variable_counts": {}}
  d = result["digests"]
  d["raw"] = tree_digest(os.path.join(work, "raw"), work)
  d["prepared"] = tree_digest(os.path.join(work, "prep"), work)
  d["backgrounds"] = npz_digest(os.path.join(work, "bg.npz"))
  per_run = {}
  for name in ("fgseg", "distill", "hoc"):
    prefix, names, values, per_key = checkpoint_digests(os.path.join(work, "runs", name))
    d[name], result["values"][name] = names, values
    result["checkpoints"][name] = prefix
    result["variable_counts"][name] = len(per_key)
    per_run[name] = {k: v[:16] for k, v in per_key.items()}
  result["scores"], result["stdout"] = {}, {}
  for stage, out in (("evaluate", "eval"), ("evaluate_distill", "eval_distill")):
    eval_digests, scores, rows = evaluate_digests(os.path.join(work, out), work, stage)
    d.update(eval_digests)
    result["scores"][stage] = dict(scores, per_image_rows=rows)
    result["stdout"][stage] = masked(stdout[stage].strip(), work).splitlines()
  d["segment"] = tree_digest(os.path.join(work, "segment"), work)
  d["consistency"] = hashlib.sha256(json_bytes(
      os.path.join(work, "runs", "distill", "consistency.json"), work)).hexdigest()
  result["stdout"]["consistency"] = masked(stdout["consistency"].strip(), work).splitlines()
  if per_variable:
    result["per_variable"] = per_run
  result["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
  return result


def compare(ours, theirs):
  """Lines naming every digest that differs; per variable too when both sides recorded them."""
  lines = []
  for key in sorted(set(ours["digests"]) | set(theirs["digests"])):
    a, b = ours["digests"].get(key), theirs["digests"].get(key)
    if a != b:
      same_values = ours["values"].get(key) is not None and (
          ours["values"].get(key) == theirs.get("values", {}).get(key))
      lines.append(f"{key}: {a} != {b}" + (" (same values: only names differ)" if same_values
                                            else ""))
  for run in sorted(set(ours.get("per_variable", {})) & set(theirs.get("per_variable", {}))):
    a, b = ours["per_variable"][run], theirs["per_variable"][run]
    for k in sorted(set(a) | set(b)):
      if a.get(k) != b.get(k):
        lines.append(f"  {run} {k}: {a.get(k)} != {b.get(k)}")
  return lines


def environment():
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  return {"commit": commit, "python": sys.version.split()[0], "tensorflow": tf.__version__,
          "numpy": np.__version__}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", help="Also write the JSON here.")
  parser.add_argument("--repeat", type=int, default=1,
                      help="Passes, each in a fresh temp dir; their digests must be identical.")
  parser.add_argument("--compare", help="A baseline JSON from this tool: exit 1 if any digest "
                      "differs from it.")
  parser.add_argument("--per_variable", action="store_true",
                      help="Record a short digest of every checkpoint variable (for --compare to "
                      "name the ones that drifted).")
  parser.add_argument("--keep", help="Work in this directory (pass i in <keep>/pass<i>) and keep it.")
  parser.add_argument("--python", default=sys.executable, help="Interpreter of the subprocesses.")
  args = parser.parse_args()

  start = time.time()
  passes = []
  for i in range(args.repeat):
    if args.keep:
      work = os.path.abspath(os.path.join(args.keep, f"pass{i}"))
      shutil.rmtree(work, ignore_errors=True)
      os.makedirs(work)
    else:
      work = tempfile.mkdtemp(prefix="drift_")
    try:
      passes.append(one_pass(work, args.python, args.per_variable))
    finally:
      if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"pass {i + 1}/{args.repeat}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)

  result = dict(passes[0])
  result["repeat"] = {"passes": args.repeat, "identical": all(
      not compare(p, passes[0]) for p in passes[1:])}
  if args.repeat > 1:
    result["repeat"]["differences"] = sorted({l for p in passes[1:] for l in compare(p, passes[0])})
    result["seconds_per_pass"] = [p["seconds"] for p in passes]
  result["commands"] = {s: masked(" ".join(["python -m", *argv]), "/WORK")
                        for s, _, argv in commands("/WORK")}
  result["environment"] = environment()
  result["wall_seconds"] = round(time.time() - start, 1)
  text = json.dumps(result, indent=2) + "\n"
  print(text, end="")
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
      f.write(text)
  failed = not result["repeat"]["identical"]
  if failed:
    print("NOT deterministic across passes:\n" + "\n".join(result["repeat"]["differences"]),
          file=sys.stderr)
  if args.compare:
    with open(args.compare) as f:
      diff = compare(result, json.load(f))
    print(("drift against " + args.compare + ":\n" + "\n".join(diff)) if diff
          else f"identical to {args.compare}", file=sys.stderr)
    failed = failed or bool(diff)
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
