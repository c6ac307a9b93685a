#!/usr/bin/env bash
# make cub-prep: CUB-200-2011 box crops at 128 px -> $PREP_DIR/cub, and a background pool from the
# photos in $BG_DIR -> $PREP_DIR/cub_bg.npz. BG_DIR's default is 20 landscape wallpapers; the paper
# crawled photos with the keywords "landscape" and "tree" (not distributed): point BG_DIR at such a
# crawl to follow it. Extra arguments go to data_prep.cub (e.g. --overwrite).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared}
CUB_ROOT=${CUB_ROOT:-data/CUB_200_2011} BG_DIR=${BG_DIR:-../shared/data/backgrounds}
mkdir -p "$PREP_DIR"
"$PYTHON" -m data_prep.cub --cub_root="$CUB_ROOT" --out_dir="$PREP_DIR/cub" --size=128 "$@"
"$PYTHON" -m data_prep.backgrounds --image_dir="$BG_DIR" --out="$PREP_DIR/cub_bg.npz" --size=128 \
  --count=4000 --seed=0
