#!/usr/bin/env bash
# make segment IMAGES=<folder or list file> [RUN_DIR=runs/cub-distill] [BOXES=<boxes file>]
#   [OUT_DIR=segmented]: masks and RGBA cut-outs of your own images with a trained segmenter.
# Extra arguments go to experiments.segment (e.g. --threshold=0.5).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
if [ -z "${IMAGES:-}" ]; then
  echo "error: IMAGES=<folder or list file> is required, e.g. make segment IMAGES=photos/" >&2
  exit 2
fi
"$PYTHON" -m experiments.segment --run_dir="${RUN_DIR:-$RUNS/cub-distill}" --images="$IMAGES" \
  ${BOXES:+--boxes="$BOXES"} --out_dir="${OUT_DIR:-segmented}" "$@"
