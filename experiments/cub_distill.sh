#!/usr/bin/env bash
# make cub-distill [PRESET=paper]: distils the teacher $RUNS/cub (make cub-train) into a student
# $RUNS/cub-distill (resumes if it exists), on the crops of $PREP_DIR/cub composited over the
# background pool of make cub-prep. TEACHER=<run dir> picks another teacher. Extra arguments go to
# experiments.distill (e.g. --steps=20000 --width=0.5 --image_size=128).
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
case "${PRESET:-cpu}" in paper|tiny) preset=$PRESET ;; *) preset=cpu ;; esac  # e.g. horse-cpu -> cpu
"$PYTHON" -m experiments.distill --teacher="${TEACHER:-$RUNS/cub}" --prepared="$PREP_DIR/cub" \
  --backgrounds="$PREP_DIR/cub_bg.npz" --preset="$preset" --logdir="$RUNS/cub-distill" "$@"
