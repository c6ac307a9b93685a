#!/usr/bin/env bash
# make hoc-count HOC_IMAGE=my_cluster.jpg [HOC_RUN=runs/hoc_fruit] [LABELS=truth_labels.png]: finds,
# masks and counts every instance of the photo with the instance student of a trained HOC run
# (default $RUNS/hoc_<PRESET or coins>; the student is trained on its first use). Writes the 16-bit
# label PNG, an overlay and a CSV to <HOC_RUN>/instances and prints the count; with LABELS, also
# the instance scores. Extra arguments go to experiments.hoc_instances (e.g. --window=<px>).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
HOC_RUN=${HOC_RUN:-$RUNS/hoc_${PRESET:-coins}} HOC_IMAGE=${HOC_IMAGE:-skimage:coins}
"$PYTHON" -m experiments.hoc_instances --hoc_run="$HOC_RUN" --image="$HOC_IMAGE" "$@"
if [ -n "${LABELS:-}" ]; then
  name=$(basename "${HOC_IMAGE#skimage:}"); name=${name%.*}
  "$PYTHON" -m experiments.hoc_eval --logdir="$HOC_RUN" --samples=512 --labels="$LABELS" \
    --instances="$HOC_RUN/instances/${name}_labels.png"
fi
