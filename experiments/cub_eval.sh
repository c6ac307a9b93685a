#!/usr/bin/env bash
# make cub-eval: fg IoU / mIoU / pixel accuracy of $RUNS/cub on the CUB masks (all 11,788 crops).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
"$PYTHON" -m experiments.evaluate --run_dir="${RUN_DIR:-$RUNS/cub}" --prepared="$PREP_DIR/cub" \
  --split=all "$@"
