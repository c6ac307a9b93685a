#!/usr/bin/env bash
# make horse-distill [PRESET=paper]: distils the teacher $RUNS/horse (make horse-train) into a student
# $RUNS/horse-distill (resumes if it exists), on the crops of $PREP_DIR/horse composited over the
# sharp background pool of make horse-prep. BACKGROUNDS=<.npz> picks another pool, TEACHER=<run dir>
# another teacher. Extra arguments go to experiments.distill (e.g. --steps=20000 --width=0.5
# --image_size=128).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
case "${PRESET:-cpu}" in paper|tiny) preset=$PRESET ;; *) preset=cpu ;; esac  # e.g. horse-cpu -> cpu
"$PYTHON" -m experiments.distill --teacher="${TEACHER:-$RUNS/horse}" --prepared="$PREP_DIR/horse" \
  --backgrounds="${BACKGROUNDS:-$PREP_DIR/horse_bg_sharp.npz}" --preset="$preset" \
  --logdir="$RUNS/horse-distill" "$@"
