#!/usr/bin/env bash
# make horse-train [PRESET=...]: trains on all 328 horses (the method uses no masks) into $RUNS/horse
# with the horse-cpu preset (about 10 minutes on 2 free cores; docs/fgseg.md); rerunning resumes.
# Extra arguments go to experiments.fgseg.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
"$PYTHON" -m experiments.fgseg --prepared="$PREP_DIR/horse" --split=all \
  --backgrounds="$PREP_DIR/horse_bg.npz" --preset="${PRESET:-horse-cpu}" --logdir="$RUNS/horse" "$@"
