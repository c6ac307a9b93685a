"""make bench's analytic FLOP count (flops.py), its per-layer timing and its flags (the timings
themselves are never asserted: they are benchmarks)."""
import pytest

from ind_prior_tf import bench, flops, networks
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
