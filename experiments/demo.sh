#!/usr/bin/env bash
# make demo: the whole application on a fresh machine, no download, a few minutes on a CPU.
# 1. a small CUB-layout dataset from images shipped inside scikit-image (data_prep.demo): horse
#    silhouettes with exact masks, filled with photo textures, over natural photos;
# 2. box crops at 64 px (data_prep.cub) and a background pool from other crops of the photos;
# 3. training with the `demo` preset (experiments.fgseg; extra arguments go there);
# 4. scores on the held-out test split and a picture of the best and worst cases.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
RAW="$PREP_DIR/demo_raw" PREP="$PREP_DIR/demo" POOL="$PREP_DIR/demo_bg.npz" RUN="$RUNS/demo"
mkdir -p "$PREP_DIR" "$RUNS"
"$PYTHON" -m data_prep.demo --out_dir="$RAW" --count=400 --overwrite
"$PYTHON" -m data_prep.cub --cub_root="$RAW/cub" --out_dir="$PREP" --size=64 --overwrite
"$PYTHON" -m data_prep.backgrounds --image_dir="$RAW/backgrounds" --out="$POOL" --size=64 \
  --count=1000 --seed=0
"$PYTHON" -m experiments.fgseg --prepared="$PREP" --split=train --backgrounds="$POOL" \
  --preset=demo --logdir="$RUN" --overwrite "$@"
"$PYTHON" -m experiments.evaluate --run_dir="$RUN" --prepared="$PREP" --split=test
