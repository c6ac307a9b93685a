"""make bench's analytic FLOP count (flops.py), its per-layer timing, its flags and the harness that
times the PyTorch peer against ours (the timings themselves are never asserted: they are benchmarks;
the harness is tested with fake workers whose times are known)."""
import sys

import pytest

from ind_prior_tf.bench import flops, peer
from ind_prior_tf.bench import run as bench
from ind_prior_tf.core import networks
from ind_prior_tf.errors import RunError
from ind_prior_tf.runtime import devices
from tests import entry


def test_unet_forward_flops_match_table_1():
  # Table 1's UNet at 128 px costs about 2.9 GFLOP per image forward.
  assert flops.forward_flops(networks.unet(128, 1.0)) / 1e9 == pytest.approx(2.9, rel=0.03)


def test_discriminator_flops_by_hand():
  d = networks.sn_discriminator(64, width=0.125)  # convs 3->8->16->32->64 (3x3 s2), 64->32, 32->1
  want = 2 * 9 * (32 * 32 * 3 * 8 + 16 * 16 * 8 * 16 + 8 * 8 * 16 * 32 + 4 * 4 * 32 * 64
                  + 4 * 4 * 64 * 32) + 2 * 4 * 4 * 32
  assert flops.forward_flops(d) == want


def test_layer_breakdown_times_every_conv_once():
  d = networks.sn_discriminator(64, width=0.125)
  rows = bench.layer_breakdown(d, batch=2, jits=[False], repeats=1)
  assert [r[0] for r in rows] == ["conv1", "conv2", "conv3", "conv4", "conv5", "logits"]
  assert rows[0][1] == (64, 64, 3) and rows[-1][1] == (4, 4, 32)
  assert all(r[2][False] > 0 for r in rows)
  assert sum(r[3] for r in rows) == 3 * 2 * flops.forward_flops(d)


@pytest.mark.parametrize("flag", ["--apps=fgseg,segnet", "--sizes=paper,huge"])
def test_unknown_app_or_size_is_one_error_line(flag):
  entry.call("experiments.bench", flag).failed(2, flag)


# --- the PyTorch-peer harness (ind_prior_tf/bench/peer.py), with fake workers whose times are known ---
FAKE_WORKER = """
import sys, time
log, name, *times = sys.argv[1:]
with open(log, "a") as f:
  f.write(f"start {name}\\n")
n = sum(1 for line in open(log) if line == f"start {name}\\n")
time.sleep(0.02)
with open(log, "a") as f:
  f.write(f"end {name}\\n")
print("warming up")
print(f"{times[min(n, len(times)) - 1]} s/step (fake {name})")
"""


def _fake(tmp_path, name, *times):
  script = tmp_path / "fake_worker.py"
  script.write_text(FAKE_WORKER)
  return peer.Side(name, [sys.executable, str(script), str(tmp_path / "log"), name,
                          *map(str, times)])


def _compare(sides, rounds=3):
  return peer.compare(sides, rounds=rounds, settle=0.0, sleep=lambda s: None)


def test_harness_times_each_side_alone_then_alternates_whole_processes(tmp_path):
  c = _compare([_fake(tmp_path, "torch", 2.0), _fake(tmp_path, "xla", 1.0)])
  # Never two workers alive at once: every start is followed by its own end.
  log = (tmp_path / "log").read_text().split("\n")[:-1]
  assert log == [f"{w} {n}" for n in ["torch", "xla"] * 4 for w in ("start", "end")]
  assert c.alone["torch"].seconds == 2.0 and c.alone["torch"].note == "fake torch"
  assert [t.seconds for t in c.rounds["xla"]] == [1.0, 1.0, 1.0]
  assert c.refusals() == [] and c.ratio("torch", "xla") == 2.0
  assert len(c.load) == 8
  lines = peer.describe(c, "torch", ["xla"], {"xla": "ours XLA"})
  assert lines[0].startswith("torch: 2000 / 2000 / 2000 ms (+0.0% off alone); fake torch")
  assert lines[1].startswith("ours XLA: 1000 / 1000 / 1000 ms")
  assert "ours XLA 2.00x, 2.00x" in lines[-1]


def test_harness_reports_minimum_and_median_over_rounds(tmp_path):
  c = _compare([_fake(tmp_path, "torch", 2.0, 2.06, 1.98, 2.02), _fake(tmp_path, "xla", 1.0)])
  assert c.minimum("torch") == 1.98 and c.median("torch") == 2.02
  assert c.drift("torch") == pytest.approx(0.01)
  assert c.ratio("torch", "xla") == pytest.approx(1.98)
  assert c.ratio("torch", "xla", c.median) == pytest.approx(2.02)
  assert "1.98x, 2.02x" in peer.describe(c, "torch", ["xla"])[-1]


def test_harness_refuses_a_ratio_when_a_side_drifts_from_its_alone_time(tmp_path):
  # The peer ran 1.0 s alone and 1.2 s in the rounds (as when two thread pools fought for 2 cores).
  c = _compare([_fake(tmp_path, "torch", 1.0, 1.2), _fake(tmp_path, "xla", 0.5),
                _fake(tmp_path, "no-xla", 0.6, 0.58)])
  assert c.ratio("torch", "xla") is None and c.ratio("torch", "no-xla", c.median) is None
  refusals = c.refusals()
  assert len(refusals) == 1
  assert refusals[0].startswith("torch's median in the rounds, 1200 ms/step, is 20.0% slower than "
                                "its alone time, 1000 ms")
  lines = peer.describe(c, "torch", ["xla", "no-xla"])
  assert lines[-1].startswith("no ratio for xla, no-xla: torch's median")
  assert "not quiet enough" in lines[-1] and not any("x," in l for l in lines)
  # Only the ratios of a side that drifted are refused: the other pair still gets one.
  (tmp_path / "log").unlink()
  c = _compare([_fake(tmp_path, "torch", 1.0), _fake(tmp_path, "xla", 0.5),
                _fake(tmp_path, "no-xla", 0.6, 0.5)])
  assert c.ratio("torch", "xla") == 2.0 and c.ratio("torch", "no-xla") is None
  lines = peer.describe(c, "torch", ["xla", "no-xla"])
  assert lines[-2].startswith("ratio (") and "xla 2.00x, 2.00x" in lines[-2]
  assert "no-xla" not in lines[-2]
  assert lines[-1].startswith("no ratio for no-xla: no-xla's median in the rounds, 500 ms/step, is "
                              "16.7% faster")


def test_harness_names_a_failing_or_silent_worker(tmp_path):
  broken = peer.Side("torch", [sys.executable, "-c",
                               "import sys; sys.exit('no module named torch')"])
  with pytest.raises(RunError, match="torch worker exited with status 1: no module named torch"):
    peer.run_worker(broken)
  silent = peer.Side("xla", [sys.executable, "-c", "print('compiled')"])
  with pytest.raises(RunError, match="xla worker: no seconds per step in 'compiled'"):
    peer.run_worker(silent)


def test_peer_sides_keep_each_frameworks_default_threads(monkeypatch):
  monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
  monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
  sides = bench.peer_sides("paper", [True, False], "mixed_bfloat16", repeats=2, block=2)
  assert [s.name for s in sides] == ["torch", "xla", "no-xla"]
  for s in sides:
    assert not any(k.startswith(("OMP_", "MKL_")) for k in s.env)
    assert not any("thread" in a for a in s.argv)
  assert "--autocast=bfloat16" in sides[0].argv and "--size=128" in sides[0].argv
  assert "--worker" in sides[1].argv and "--jit=off" in sides[2].argv
  assert "--autocast" not in " ".join(bench.peer_sides("cpu", [True], "float32", 2, 2)[0].argv)


def test_cpu_features_names_avx512_and_amx(tmp_path):
  info = tmp_path / "cpuinfo"
  info.write_text("model name\t: X\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
  assert devices.cpu_features(str(info)) == "AVX-512, AVX512_BF16, AMX"
  info.write_text("flags\t\t: fpu avx2 fma\n")
  assert devices.cpu_features(str(info)) == "AVX2, no AVX-512"


def test_worker_needs_one_xla_setting():
  entry.call("experiments.bench", "--worker", "--jit=both").failed(2, "--worker")


def test_header_says_where_it_runs():
  out = entry.call("experiments.bench", "--quick", "--apps=fgseg", "--jit=off",
                   "--nopipeline").ok().out
  assert out.startswith("bench on CPU (") or out.startswith("bench on GPU:")
  assert ", float32, no XLA; machine: " in out.splitlines()[0]
