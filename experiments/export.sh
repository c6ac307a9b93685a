#!/usr/bin/env bash
# make export [RUN_DIR=runs/cub-distill] [OUT_DIR=exported/<run name>]: the model of a run directory
# (a segmenter, or a HOC generator) as a SavedModel and a .keras file. Extra arguments go to
# experiments.export (e.g. --overwrite).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
RUN_DIR=${RUN_DIR:-$RUNS/cub-distill}
"$PYTHON" -m experiments.export --run_dir="$RUN_DIR" \
  --out_dir="${OUT_DIR:-exported/$(basename "$RUN_DIR")}" "$@"
