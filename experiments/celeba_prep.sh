#!/usr/bin/env bash
# make celeba-prep: CelebA box crops at 128 px -> $PREP_DIR/celeba (TFRecord shards, streamed in
# training), and a background pool -> $PREP_DIR/celeba_bg.npz. With INRIA_ROOT (the INRIA Person
# archive: Train/neg, Test/neg) the pool is its negatives, as in the paper; without it, the photos in
# $BG_DIR (default: 20 landscape wallpapers), which are NOT the paper's pool. It says which.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared}
CELEBA_ROOT=${CELEBA_ROOT:-data/celeba} BG_DIR=${BG_DIR:-../shared/data/backgrounds}
INRIA_ROOT=${INRIA_ROOT:-}
mkdir -p "$PREP_DIR"
"$PYTHON" -m data_prep.celeba --celeba_root="$CELEBA_ROOT" --out_dir="$PREP_DIR/celeba" --size=128 "$@"
if [ -n "$INRIA_ROOT" ]; then
  echo "celeba-prep: background pool from the INRIA Person negatives in $INRIA_ROOT (the paper's)"
  POOL_SOURCE=(--inria_root="$INRIA_ROOT")
else
  echo "celeba-prep: background pool from BG_DIR=$BG_DIR, not the paper's INRIA Person negatives" \
    "(set INRIA_ROOT=<INRIAPerson folder> for those)"
  POOL_SOURCE=(--image_dir="$BG_DIR")
fi
"$PYTHON" -m data_prep.backgrounds "${POOL_SOURCE[@]}" --out="$PREP_DIR/celeba_bg.npz" --size=128 \
  --count=4000 --seed=0
