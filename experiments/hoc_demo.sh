#!/usr/bin/env bash
# make hoc-demo [STEPS=1000]: minutes on 2 CPU cores (the coins_cpu preset). Learns coin appearances
# and masks from the one coins photo bundled with scikit-image (offline), writes Figures 8-11 style
# PNGs and scores the masks.
# Rerunning resumes; a larger STEPS continues the same run. Extra arguments go to experiments.hoc.
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
LOGDIR="$RUNS/hoc_demo"
"$PYTHON" -m experiments.hoc --image=skimage:coins --preset=coins_cpu ${STEPS:+--steps="$STEPS"} \
  --image_every=200 --save_every=200 --logdir="$LOGDIR" "$@"
"$PYTHON" -m experiments.hoc_eval --logdir="$LOGDIR" --samples=512
echo "figures: $LOGDIR/figures/{overview,layers,one_sample,eval_masks}.png" \
     "(tensorboard --logdir $LOGDIR/tb)"
# Every coin of the photo found, masked and counted, scored against the region-based segmentation.
"$PYTHON" -m experiments.hoc_instances --hoc_run="$LOGDIR" ${COUNT_STEPS:+--steps="$COUNT_STEPS"}
"$PYTHON" -m experiments.hoc_eval --logdir="$LOGDIR" --samples=512 --labels=skimage:coins
