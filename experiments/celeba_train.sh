#!/usr/bin/env bash
# make celeba-train [PRESET=paper]: trains on $PREP_DIR/celeba into $RUNS/celeba (no masks: TensorBoard
# shows the image grids). Extra arguments go to experiments.fgseg.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
"$PYTHON" -m experiments.fgseg --prepared="$PREP_DIR/celeba" \
  --backgrounds="$PREP_DIR/celeba_bg.npz" --preset="${PRESET:-cpu}" --logdir="$RUNS/celeba" "$@"
