#!/usr/bin/env bash
# make horse-refine: the refinement chain on the horses (docs/fgseg.md, "refine 3, hard labels,
# recoloured": 0.709 fg IoU), after make horse-prep. About 135 minutes on 2 cores; each stage is its
# own run directory under $CHAIN (default $RUNS/horse-refine), so rerunning resumes the stage that was
# cut and skips finished ones.
#   1. teacher: the horse-cpu preset at 128 px (experiments.fgseg, TEACHER_STEPS=2000);
#   2. ROUNDS=2 distillation rounds: student1 learns from the teacher, student2 from student1, ...
#      (experiments.distill, cpu preset, the sharp pool, STUDENT_STEPS=2500);
#   3. CYCLES=3 refinement cycles: a short GAN run from the latest student (--init_from,
#      REFINE_STEPS=125, seed 1; a list such as "125 25" gives cycle i the i-th count, the last for
#      the cycles after it), then a new student distilled from it; from cycle HARD_FROM=2 on, the
#      students also get HARD_ARGS (hard labels and recoloured foregrounds, docs/fgseg.md); HARD_FROM=0
#      gives them to the rounds' students too. Each GAN run is checked without masks: when its mean
#      flip consistency (experiments.consistency) falls below its start's by more than MAX_DROP=0.13,
#      it has lost the object; it is run again with the next seed up to RETRIES=0 times, and if no
#      run passes, the cycles end and the chain's result is the last student. MAX_DROP= (empty)
#      checks nothing. PICK_EVERY=n saves a checkpoint every n GAN steps and teaches the student
#      from the most flip-consistent one (experiments.consistency --all_checkpoints) instead of the
#      last; the check then applies to that one;
#   4. the score of the last student on the masks of ids 1-200.
# GRABCUT=n (0 by default; not in the paper): every student's labels are refined by n iterations of
# GrabCut on the raw images (HORSE_ROOT) around their boxes, and the last student is scored after
# GrabCut too (docs/fgseg.md).
# FGSEG_ARGS and DISTILL_ARGS add flags to every call of each entry point (e.g. --jit=false);
# REFINE_ARGS to the cycles' GAN runs only; EVAL_ARGS to the last student's score (e.g.
# --flip_average: its masks averaged with those of the mirrored crops).
# Within an hour: ROUNDS=1 STUDENT_STEPS=1000 CYCLES=2 HARD_FROM=0 REFINE_STEPS="125 25" (~48 minutes;
# 0.714 fg IoU, 0.751 with FGSEG_ARGS=--seed=2 DISTILL_ARGS=--seed=2). Without the last variable:
# 0.677 (cycle 2's GAN run fails the check and the chain ends in 39 minutes) and 0.750; with
# PICK_EVERY=25 instead: 0.714 and 0.733, and 0.656 with seeds 3 (docs/fgseg.md). With GRABCUT=3 as
# well (~47 minutes): 0.749 and 0.764 from the last student, 0.789 and 0.790 after a last GrabCut;
# CYCLES=3 (~57 minutes): 0.784 and 0.7997.
set -euo pipefail
PYTHON=${PYTHON:-python3} PREP_DIR=${PREP_DIR:-prepared} RUNS=${RUNS:-runs}
CHAIN=${CHAIN:-$RUNS/horse-refine} IMAGE_SIZE=${IMAGE_SIZE:-128}
TEACHER_STEPS=${TEACHER_STEPS:-2000} STUDENT_STEPS=${STUDENT_STEPS:-2500}
ROUNDS=${ROUNDS:-2} REFINE_STEPS=${REFINE_STEPS:-125} CYCLES=${CYCLES:-3} HARD_FROM=${HARD_FROM:-2}
RETRIES=${RETRIES:-0} MAX_DROP=${MAX_DROP-0.13}  # set but empty: no check
PICK_EVERY=${PICK_EVERY:-}  # empty: the student learns from the GAN run's last checkpoint
GRABCUT=${GRABCUT:-0} HORSE_ROOT=${HORSE_ROOT:-../shared/data/weizmann_horse}
if [[ -n "$PICK_EVERY" && ! "$PICK_EVERY" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: PICK_EVERY=$PICK_EVERY: expected a positive number of GAN steps, or nothing" >&2
  exit 2
fi
if [[ ! "$GRABCUT" =~ ^[0-9]+$ ]]; then
  echo "error: GRABCUT=$GRABCUT: expected a number of GrabCut iterations (0: none)" >&2
  exit 2
fi
grabcut_args=()
(( GRABCUT == 0 )) || grabcut_args=(--grabcut_iters="$GRABCUT" --raw_root="$HORSE_ROOT")
read -r -a fgseg_args <<< "${FGSEG_ARGS:-}"
read -r -a distill_args <<< "${DISTILL_ARGS:-}"
read -r -a refine_args <<< "${REFINE_ARGS:-}"
read -r -a eval_args <<< "${EVAL_ARGS:-}"
read -r -a refine_steps <<< "$REFINE_STEPS"
HARD_ARGS=${HARD_ARGS-"--label_threshold=0.5 --recolor=0.5"}  # set but empty: none

fgseg() {
  "$PYTHON" -m experiments.fgseg --prepared="$PREP_DIR/horse" --split=all \
    --backgrounds="$PREP_DIR/horse_bg.npz" --preset=horse-cpu --image_size="$IMAGE_SIZE" \
    ${fgseg_args[@]+"${fgseg_args[@]}"} "$@"
}
distill() {
  "$PYTHON" -m experiments.distill --prepared="$PREP_DIR/horse" --split=all \
    --backgrounds="$PREP_DIR/horse_bg_sharp.npz" --preset=cpu --steps="$STUDENT_STEPS" \
    ${grabcut_args[@]+"${grabcut_args[@]}"} ${distill_args[@]+"${distill_args[@]}"} "$@"
}

# HARD_ARGS for the students of cycle $1 on (0: the rounds'), split into words where used.
hard_from() { if (( $1 >= HARD_FROM )); then echo "$HARD_ARGS"; fi; }

fgseg --steps="$TEACHER_STEPS" --logdir="$CHAIN/teacher"
last="$CHAIN/teacher"
for round in $(seq 1 "$ROUNDS"); do
  distill --teacher="$last" --logdir="$CHAIN/student$round" $(hard_from 0)
  last="$CHAIN/student$round"
done
for cycle in $(seq 1 "$CYCLES"); do
  gan="$CHAIN/refine$cycle-gan" seed=1 passed=1
  i=$(( cycle <= ${#refine_steps[@]} ? cycle - 1 : ${#refine_steps[@]} - 1 ))
  steps=${refine_steps[$i]}
  save=(--save_every="$steps") check=() pick=()
  if [[ -n "$PICK_EVERY" ]]; then
    save=(--save_every="$PICK_EVERY" --max_to_keep=$(( (steps + PICK_EVERY - 1) / PICK_EVERY )))
    pick=(--all_checkpoints)
  fi
  [[ -z "$MAX_DROP" ]] || check=(--baseline="$last" --max_drop="$MAX_DROP")
  while :; do
    fgseg --steps="$steps" "${save[@]}" --seed="$seed" --init_from="$last" \
      --logdir="$gan" ${refine_args[@]+"${refine_args[@]}"}
    [[ -n "$MAX_DROP$PICK_EVERY" ]] || break
    rc=0
    "$PYTHON" -m experiments.consistency --run_dir="$gan" --prepared="$PREP_DIR/horse" \
      ${pick[@]+"${pick[@]}"} ${check[@]+"${check[@]}"} || rc=$?
    if (( rc == 0 )); then passed=1; break; elif (( rc != 3 )); then exit "$rc"; fi
    passed=0
    (( seed <= RETRIES )) || break
    seed=$((seed + 1)); gan="$CHAIN/refine$cycle-gan-seed$seed"
  done
  if (( ! passed )); then
    echo "cycle $cycle: no GAN run kept the flip consistency of $last (MAX_DROP=$MAX_DROP);" \
      "the chain ends with $last"
    break
  fi
  picked=()
  [[ -z "$PICK_EVERY" ]] || picked=(--teacher_checkpoint="$("$PYTHON" -c \
    'import json, sys; print(json.load(open(sys.argv[1]))["checkpoint"])' "$gan/consistency.json")")
  distill --teacher="$gan" ${picked[@]+"${picked[@]}"} --logdir="$CHAIN/refine$cycle" \
    $(hard_from "$cycle")
  last="$CHAIN/refine$cycle"
done
# With GRABCUT the last student's masks are scored after GrabCut as well (it prints both).
"$PYTHON" -m experiments.evaluate --run_dir="$last" --prepared="$PREP_DIR/horse" --split=train \
  ${grabcut_args[@]+"${grabcut_args[@]}"} ${eval_args[@]+"${eval_args[@]}"}
