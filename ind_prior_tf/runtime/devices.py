"""Where a run trains: the devices TensorFlow sees, said in every training and benchmark header line
and recorded in <logdir>/run.json, with a warning when the machine has an NVIDIA GPU that TensorFlow
does not see (a CPU-only TensorFlow build, or a CUDA library missing).

The GPU path differs from the CPU one only by device placement: nothing here changes what runs.
"""
import json
import os
import platform
import shutil
import subprocess

GPU_INSTALL_HINT = "make install GPU=1 (tensorflow[and-cuda]); see README"


def nvidia_gpus(which=shutil.which, run=subprocess.run):
  """The GPUs `nvidia-smi -L` lists (names), or [] without a driver. TensorFlow-free."""
  if which("nvidia-smi") is None:
    return []
  try:
    out = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.SubprocessError):
    return []
  if out.returncode != 0:
    return []
  return [line.split(":", 1)[1].split("(UUID")[0].strip() for line in out.stdout.splitlines()
          if line.startswith("GPU ") and ":" in line]


def _cpuinfo(field, path="/proc/cpuinfo"):
  """The value of the first `field` line of /proc/cpuinfo, or None where there is none."""
  try:
    with open(path) as f:
      return next((l.split(":", 1)[1].strip() for l in f if l.startswith(field)), None)
  except OSError:
    return None


def cpu_name():
  return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_features(path="/proc/cpuinfo"):
  """The instruction sets that decide float32 and bfloat16 speed on a CPU, e.g. 'AVX-512, AVX512_BF16,
  AMX' or 'AVX2, no AVX-512': a speed claim names them beside the CPU's name."""
  flags = _cpuinfo("flags", path)
  if flags is None:
    return "flags unknown"
  flags = flags.split()
  names = [("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512_BF16"),
           ("amx_bf16", "AMX")]
  found = [label for flag, label in names if flag in flags]
  if "AVX-512" in found:
    found.remove("AVX2")  # implied
  elif found:
    found.append("no AVX-512")
  return ", ".join(found) or "no AVX2"


def _gpu_label(tf, device):
  try:
    details = tf.config.experimental.get_device_details(device)
  except (ValueError, RuntimeError):
    details = {}
  name = details.get("device_name", "GPU")
  index = device.name.rsplit(":", 1)[-1]
  return f"GPU:{index} ({name})"


def describe(strategy=None, policy="float32", jit=True):
  """One phrase for a header line, e.g. 'on GPU:0 (NVIDIA H200), mixed_float16, XLA' or 'on CPU
  (2 cores; no GPU visible to TensorFlow), float32, XLA'."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    used = strategy.num_replicas_in_sync if strategy is not None else 1
    where = ", ".join(_gpu_label(tf, g) for g in gpus[:max(used, 1)])
  else:
    where = f"CPU ({os.cpu_count()} cores; no GPU visible to TensorFlow)"
  replicas = ""
  if strategy is not None and strategy.num_replicas_in_sync > 1:
    replicas = f", {strategy.num_replicas_in_sync} replicas"
  return f"on {where}{replicas}, {policy}, {'XLA' if jit else 'no XLA'}"


def warning(tf_gpu_count=None, smi=nvidia_gpus):
  """A one-line warning when nvidia-smi lists GPUs that TensorFlow does not see, else None."""
  listed = smi()
  if not listed:
    return None
  if tf_gpu_count is None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf_gpu_count = len(tf.config.list_physical_devices("GPU"))
  if tf_gpu_count:
    return None
  return (f"warning: nvidia-smi lists {len(listed)} GPU(s) ({listed[0]}) but TensorFlow sees "
          f"none: training runs on the CPU; {GPU_INSTALL_HINT}")


def run_info(strategy=None, policy="float32", jit=True):
  """What run.json records beside flags.json: versions, devices, CPU."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(tensorflow=tf.__version__, keras=keras.__version__,
              built_with_cuda=bool(tf.test.is_built_with_cuda()),
              devices=describe(strategy, policy, jit),
              gpus=[_gpu_label(tf, g) for g in tf.config.list_physical_devices("GPU")],
              nvidia_smi=nvidia_gpus(), cpu=cpu_name(), cpu_count=os.cpu_count(),
              replicas=strategy.num_replicas_in_sync if strategy is not None else 1)


def announce(logdir=None, strategy=None, policy="float32", jit=True, log=print):
  """Prints the warning (if any), writes <logdir>/run.json (if logdir) and returns describe(...)."""
  message = warning()
  if message:
    log(message)
  if logdir:
    info = run_info(strategy, policy, jit)
    path = os.path.join(logdir, "run.json")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
      f.write(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, path)
    return info["devices"]
  return describe(strategy, policy, jit)
