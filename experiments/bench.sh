#!/usr/bin/env bash
# make bench: a benchmark, not a test. Prints the table of experiments/bench.py (step times, images/s,
# GFLOP/s against this machine's matmul and conv2d) and writes it to $RUNS/bench.json. Extra args
# pass through (e.g. --quick, --sizes=cpu). The PyTorch peer (ind_prior_tf/bench/peer_torch.py) is timed with
# --peer_torch when torch is importable; torch is never a project dependency, so it is optional here.
# The peer and our step then run in separate processes, one at a time (ind_prior_tf/bench/peer.py): a ratio
# is printed only when each side's time in the alternating rounds is within 5% of its time alone.
set -euo pipefail
PY="${PYTHON:-python3}"
mkdir -p "${RUNS:-runs}"
peer=()
if "$PY" -c "import torch" >/dev/null 2>&1; then
  peer=(--peer_torch)
fi
"$PY" -m experiments.bench --json="${RUNS:-runs}/bench.json" ${peer[@]+"${peer[@]}"} "$@"
