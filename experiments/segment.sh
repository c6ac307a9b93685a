#!/usr/bin/env bash
# make segment IMAGES=<image, folder, 'glob' or list file> [RUN_DIR=<run>] [BOXES=<boxes file>]
#   [OUT_DIR=segmented]: masks and RGBA cut-outs of your own images with a trained segmenter; without
#   RUN_DIR, the newest segmenter run under $RUNS (named on the first line).
# Extra arguments (make's SEGMENT_ARGS) go to experiments.segment (e.g. --threshold=0.5).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
if [ -z "${IMAGES:-}" ]; then
  echo "error: IMAGES=<image, folder, 'glob' or list file> is required, e.g. make segment IMAGES=photos/" >&2
  exit 2
fi
if [ -n "${RUN_DIR:-}" ]; then run=(--run_dir="$RUN_DIR"); else run=(--runs="$RUNS"); fi
"$PYTHON" -m experiments.segment "${run[@]}" --images="$IMAGES" \
  ${BOXES:+--boxes="$BOXES"} --out_dir="${OUT_DIR:-segmented}" "$@"
