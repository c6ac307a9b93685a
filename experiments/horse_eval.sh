#!/usr/bin/env bash
# make horse-eval: scores $RUNS/horse (or RUN_DIR=..., e.g. a distilled student) on the masks of ids
# 1-200 (the train split: the test split's masks are held out), 128 px crops, threshold 0.5.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
"$PYTHON" -m experiments.evaluate --run_dir="${RUN_DIR:-$RUNS/horse}" --prepared="$PREP_DIR/horse" \
  --split=train "$@"
