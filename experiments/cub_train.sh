#!/usr/bin/env bash
# make cub-train [PRESET=paper]: trains the UNet on $PREP_DIR/cub into $RUNS/cub (resumes if it
# exists). Extra arguments go to experiments.fgseg (e.g. --steps=20000).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
"$PYTHON" -m experiments.fgseg --prepared="$PREP_DIR/cub" --backgrounds="$PREP_DIR/cub_bg.npz" \
  --preset="${PRESET:-cpu}" --logdir="$RUNS/cub" "$@"
