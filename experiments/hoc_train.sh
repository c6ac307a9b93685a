#!/usr/bin/env bash
# make hoc-train [HOC_IMAGE=skimage:coins] [PRESET=coins] [WINDOW=<px>]: trains on one image of a
# homogeneous object cluster into $RUNS/hoc_<PRESET> (resumes if it exists). PRESET is one of crowd,
# fruit, seed (Table 4; give your own HOC_IMAGE and WINDOW, ~1.5x the largest instance in px), coins
# (GPU-sized) or coins_cpu. Extra arguments go to experiments.hoc (e.g. --steps=40000).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
PRESET=${PRESET:-coins} HOC_IMAGE=${HOC_IMAGE:-skimage:coins}
"$PYTHON" -m experiments.hoc --image="$HOC_IMAGE" --preset="$PRESET" ${WINDOW:+--window="$WINDOW"} \
  --logdir="$RUNS/hoc_$PRESET" "$@"
"$PYTHON" -m experiments.hoc_eval --logdir="$RUNS/hoc_$PRESET" \
  || echo "(no blob score: for images other than skimage:coins run experiments.hoc_eval with --area_range)"
echo "figures: $RUNS/hoc_$PRESET/figures/"
