#!/usr/bin/env bash
# make celeba-prep: CelebA box crops at 128 px -> $PREP_DIR/celeba (TFRecord shards, streamed in
# training), a background pool from $BG_DIR (the paper: INRIAPerson negatives) -> $PREP_DIR/celeba_bg.npz.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared}
CELEBA_ROOT=${CELEBA_ROOT:-data/celeba} BG_DIR=${BG_DIR:-../shared/data/backgrounds}
mkdir -p "$PREP_DIR"
"$PYTHON" -m data_prep.celeba --celeba_root="$CELEBA_ROOT" --out_dir="$PREP_DIR/celeba" --size=128 "$@"
"$PYTHON" -m data_prep.backgrounds --image_dir="$BG_DIR" --out="$PREP_DIR/celeba_bg.npz" --size=128 \
  --count=4000 --seed=0
