"""Which TensorFlow build `make install` installs: the GPU build where an NVIDIA driver is present,
the CPU build elsewhere. Prints one pip requirement; with --check, exits 0 when the installed
TensorFlow already is that build (nothing to install) and 1 when not.

  GPU=1 / GPU=0 (make install GPU=1) force the choice; unset (or GPU=auto): probe the driver.

Standard library only: it runs before anything is installed.
"""
import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ind_prior_tf.runtime import devices  # pylint: disable=wrong-import-position  (TensorFlow-free)

VERSION = "2.21.0"
GPU_REQUIREMENT = f"tensorflow[and-cuda]=={VERSION}"
CPU_REQUIREMENT = f"tensorflow-cpu=={VERSION}"  # x86-64 Linux; installs fastest
GENERIC_REQUIREMENT = f"tensorflow=={VERSION}"  # other platforms (aarch64, macOS): the CPU build


def nvidia_driver_present(which=shutil.which, run=subprocess.run, exists=os.path.exists):
  """True when an NVIDIA kernel driver answers: /proc/driver/nvidia, or `nvidia-smi -L` listing a
  GPU."""
  return exists("/proc/driver/nvidia/version") or bool(devices.nvidia_gpus(which, run))


def wants_gpu(gpu_setting, probe=nvidia_driver_present):
  """gpu_setting: '1'/'0' (forced) or ''/'auto' (probe the driver)."""
  setting = (gpu_setting or "auto").strip().lower()
  if setting in ("1", "yes", "true", "on"):
    return True
  if setting in ("0", "no", "false", "off"):
    return False
  if setting != "auto":
    raise ValueError(f"GPU={gpu_setting}: expected 1, 0 or auto")
  return probe()


def requirement(gpu_setting="", system=None, machine=None, probe=nvidia_driver_present):
  system = system or platform.system()
  machine = machine or platform.machine()
  if system == "Linux" and machine in ("x86_64", "AMD64") and wants_gpu(gpu_setting, probe):
    return GPU_REQUIREMENT
  if system == "Linux" and machine in ("x86_64", "AMD64"):
    return CPU_REQUIREMENT
  if gpu_setting and wants_gpu(gpu_setting, probe):
    raise ValueError(f"GPU={gpu_setting}: TensorFlow's GPU wheels are for x86-64 Linux only")
  return GENERIC_REQUIREMENT


CPU_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tensorflow-macos")


def installed_matches(req, version=importlib.metadata.version, find_spec=importlib.util.find_spec):
  """True when the installed TensorFlow is VERSION and, for the GPU requirement, built with CUDA.
  For a CPU build the package's metadata says it without importing TensorFlow (seconds, paid by
  every `make` target on a fresh checkout); only the GPU build's CUDA is asked of TensorFlow itself."""
  if req != GPU_REQUIREMENT:
    if find_spec("tensorflow") is None:
      return False
    for dist in CPU_DISTRIBUTIONS:
      try:
        if version(dist) == VERSION:
          return True
      except importlib.metadata.PackageNotFoundError:
        pass
    return False
  code = ("import tensorflow as tf, sys; "
          "sys.stdout.write(tf.__version__ + ' ' + str(int(tf.test.is_built_with_cuda())))")
  try:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  except (OSError, subprocess.SubprocessError):
    return False
  if out.returncode != 0 or not out.stdout.strip():
    return False
  found, cuda = out.stdout.split()
  return found == VERSION and cuda == "1"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true",
                      help="exit 0 when the installed TensorFlow is already the build to install")
  args = parser.parse_args(argv)
  try:
    req = requirement(os.environ.get("GPU", ""))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.check:
    return 0 if installed_matches(req) else 1
  print(req)
  return 0


if __name__ == "__main__":
  sys.exit(main())
