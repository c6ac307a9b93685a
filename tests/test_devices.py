"""Where a run trains: the header phrase, the GPU warning (nvidia-smi faked) and run.json."""
import json
import subprocess

from ind_prior_tf.runtime import devices


class FakeRun:
  def __init__(self, stdout, code=0):
    self.stdout, self.code = stdout, code

  def __call__(self, cmd, **kwargs):
    return subprocess.CompletedProcess(cmd, self.code, self.stdout, "")


def test_nvidia_gpus_parses_nvidia_smi():
  out = "GPU 0: NVIDIA H200 (UUID: GPU-abc)\nGPU 1: NVIDIA H200 (UUID: GPU-def)\n"
  assert devices.nvidia_gpus(which=lambda n: "/usr/bin/nvidia-smi", run=FakeRun(out)) == [
      "NVIDIA H200", "NVIDIA H200"]
  assert devices.nvidia_gpus(which=lambda n: None) == []
  assert devices.nvidia_gpus(which=lambda n: "x", run=FakeRun("failed", code=9)) == []


def test_warning_only_when_the_driver_sees_a_gpu_that_tensorflow_does_not():
  smi = lambda: ["NVIDIA A100"]
  message = devices.warning(tf_gpu_count=0, smi=smi)
  assert message.startswith("warning:") and "NVIDIA A100" in message and "GPU=1" in message
  assert devices.warning(tf_gpu_count=1, smi=smi) is None
  assert devices.warning(tf_gpu_count=0, smi=lambda: []) is None


def test_describe_and_run_json_on_this_cpu(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  phrase = devices.describe(policy="mixed_bfloat16", jit=False)
  if not tf.config.list_physical_devices("GPU"):
    assert phrase.startswith("on CPU (") and "no GPU visible to TensorFlow" in phrase
  assert phrase.endswith("mixed_bfloat16, no XLA")
  said = []
  assert devices.announce(str(tmp_path), log=said.append) == devices.describe()
  info = json.loads((tmp_path / "run.json").read_text())
  assert info["tensorflow"] == tf.__version__ and info["devices"] == phrase.replace(
      "mixed_bfloat16, no XLA", "float32, XLA")
  assert info["cpu_count"] >= 1 and isinstance(info["nvidia_smi"], list)
