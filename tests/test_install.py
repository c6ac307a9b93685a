"""make install's choice of TensorFlow build (tools/tf_requirement.py), with the driver probe faked."""
import os
import stat
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import tf_requirement as tr  # pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("gpu, driver, want", [
    ("", True, tr.GPU_REQUIREMENT), ("auto", True, tr.GPU_REQUIREMENT),
    ("", False, tr.CPU_REQUIREMENT), ("1", False, tr.GPU_REQUIREMENT),
    ("0", True, tr.CPU_REQUIREMENT)])
def test_x86_linux_takes_the_gpu_build_where_a_driver_answers(gpu, driver, want):
  assert tr.requirement(gpu, "Linux", "x86_64", probe=lambda: driver) == want


def test_other_platforms_take_the_generic_build_and_refuse_a_forced_gpu():
  assert tr.requirement("", "Linux", "aarch64", probe=lambda: True) == tr.GENERIC_REQUIREMENT
  assert tr.requirement("", "Darwin", "arm64", probe=lambda: False) == tr.GENERIC_REQUIREMENT
  with pytest.raises(ValueError, match="x86-64 Linux only"):
    tr.requirement("1", "Linux", "aarch64")
  with pytest.raises(ValueError, match="GPU=maybe"):
    tr.requirement("maybe", "Linux", "x86_64")


def fake_smi(tmp_path, output, code=0):
  path = tmp_path / "nvidia-smi"
  path.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
  path.chmod(path.stat().st_mode | stat.S_IEXEC)
  return str(path)


def test_the_driver_probe_reads_nvidia_smi(tmp_path):
  no_proc = lambda p: False
  smi = fake_smi(tmp_path, "GPU 0: NVIDIA H200 (UUID: GPU-1)")
  assert tr.nvidia_driver_present(which=lambda n: smi, exists=no_proc,
                                  run=lambda cmd, **kw: subprocess.run([smi, *cmd[1:]], **kw))
  broken = fake_smi(tmp_path, "NVIDIA-SMI has failed: no driver", code=9)
  assert not tr.nvidia_driver_present(which=lambda n: broken, exists=no_proc,
                                      run=lambda cmd, **kw: subprocess.run([broken, *cmd[1:]], **kw))
  assert not tr.nvidia_driver_present(which=lambda n: None, exists=no_proc)
  assert tr.nvidia_driver_present(which=lambda n: None, exists=lambda p: p.startswith("/proc/driver"))


def test_the_script_prints_the_requirement_with_a_fake_driver_on_path(tmp_path):
  fake_smi(tmp_path, "GPU 0: NVIDIA A100")
  env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}", GPU="")
  out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tf_requirement.py")], env=env,
                       capture_output=True, text=True, check=True).stdout.strip()
  import platform  # pylint: disable=g-import-not-at-top
  if platform.system() == "Linux" and platform.machine() == "x86_64":
    assert out == tr.GPU_REQUIREMENT
  env["GPU"] = "0"
  out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tf_requirement.py")], env=env,
                       capture_output=True, text=True, check=True).stdout.strip()
  assert out in (tr.CPU_REQUIREMENT, tr.GENERIC_REQUIREMENT)


def test_the_cpu_build_is_checked_by_its_metadata_without_importing_tensorflow():
  def version(installed):
    def get(dist):
      if dist not in installed:
        raise tr.importlib.metadata.PackageNotFoundError(dist)
      return installed[dist]
    return get
  found = lambda name: object()
  assert tr.installed_matches(tr.CPU_REQUIREMENT, version({"tensorflow-cpu": tr.VERSION}), found)
  assert tr.installed_matches(tr.GENERIC_REQUIREMENT, version({"tensorflow": tr.VERSION}), found)
  assert not tr.installed_matches(tr.CPU_REQUIREMENT, version({"tensorflow-cpu": "2.20.0"}), found)
  assert not tr.installed_matches(tr.CPU_REQUIREMENT, version({}), found)
  # Metadata left behind by a package whose files are gone is not an installed TensorFlow.
  assert not tr.installed_matches(tr.CPU_REQUIREMENT, version({"tensorflow-cpu": tr.VERSION}),
                                  lambda name: None)
