#!/usr/bin/env bash
# make horse-prep: the Weizmann horses (CUB layout, $HORSE_ROOT) as 128 px box crops -> $PREP_DIR/horse,
# and three background pools: patches from outside the horses' boxes (one of the two options the
# paper names, "patches without any foreground region from the original given images"; used by
# horse-train) -> $PREP_DIR/horse_bg.npz; the same limited to patches at most 3x blurrier than their
# crop (used by horse-distill, where it scores better: docs/fgseg.md) -> $PREP_DIR/horse_bg_sharp.npz;
# and landscape photos from $BG_DIR -> $PREP_DIR/horse_bg_landscape.npz.
# Extra arguments go to data_prep.cub (e.g. --overwrite).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared}
HORSE_ROOT=${HORSE_ROOT:-../shared/data/weizmann_horse} BG_DIR=${BG_DIR:-../shared/data/backgrounds}
mkdir -p "$PREP_DIR"
"$PYTHON" -m data_prep.cub --cub_root="$HORSE_ROOT" --out_dir="$PREP_DIR/horse" --size=128 "$@"
"$PYTHON" -m data_prep.backgrounds --source=outside_boxes --cub_root="$HORSE_ROOT" \
  --out="$PREP_DIR/horse_bg.npz" --size=128 --count=2000 --seed=0
"$PYTHON" -m data_prep.backgrounds --source=outside_boxes --cub_root="$HORSE_ROOT" \
  --out="$PREP_DIR/horse_bg_sharp.npz" --size=128 --count=2000 --seed=0 --max_zoom=3
"$PYTHON" -m data_prep.backgrounds --image_dir="$BG_DIR" --out="$PREP_DIR/horse_bg_landscape.npz" \
  --size=128 --count=2000 --seed=0
