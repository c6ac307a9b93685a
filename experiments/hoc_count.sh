#!/usr/bin/env bash
# make hoc-count HOC_IMAGE=my_cluster.jpg [LABELS=truth_labels.png]: counts the objects of the photo
# with nothing else given (experiments.hoc_auto): settings read from the photo, a CPU-sized HOC run
# over its own ground and its instance student (into $RUNS/hoc_auto_<name>; minutes on 2 cores), a
# classical count beside it, and a check of the student's instances; the last line is the count and
# says where it comes from. With LABELS, the scores of the student, the classical count and the
# count given. Extra arguments go to experiments.hoc_auto (e.g. --polarity=dark).
# make hoc-count HOC_IMAGE=... HOC_RUN=runs/hoc_fruit: the instance student of a HOC run trained
# already (experiments.hoc_instances; extra arguments go to it, e.g. --window=<px>).
set -euo pipefail
PYTHON=${PYTHON:-python3} RUNS=${RUNS:-runs}
HOC_IMAGE=${HOC_IMAGE:-skimage:coins}
if [ -z "${HOC_RUN:-}" ]; then
  exec "$PYTHON" -m experiments.hoc_auto --image="$HOC_IMAGE" ${LABELS:+--labels="$LABELS"} "$@"
fi
"$PYTHON" -m experiments.hoc_instances --hoc_run="$HOC_RUN" --image="$HOC_IMAGE" "$@"
if [ -n "${LABELS:-}" ]; then
  name=$(basename "${HOC_IMAGE#skimage:}"); name=${name%.*}
  "$PYTHON" -m experiments.hoc_eval --logdir="$HOC_RUN" --samples=512 --labels="$LABELS" \
    --instances="$HOC_RUN/instances/${name}_labels.png"
fi
