# ind-prior-tf: every target installs what is missing first, then runs a script in experiments/.
# Dataset paths are make variables: `make cub-prep CUB_ROOT=/data/CUB_200_2011`.
PYTHON ?= python3
SHARED ?= ../shared/data
CUB_ROOT ?= data/CUB_200_2011
CELEBA_ROOT ?= data/celeba
BG_DIR ?= $(SHARED)/backgrounds
INRIA_ROOT ?=
HORSE_ROOT ?= $(SHARED)/weizmann_horse
PREP_DIR ?= prepared
RUNS ?= runs
PRESET ?=
HOC_IMAGE ?= skimage:coins
GPU ?=
export PYTHON SHARED CUB_ROOT CELEBA_ROOT BG_DIR INRIA_ROOT HORSE_ROOT PREP_DIR RUNS PRESET HOC_IMAGE

STAMP := .installed.stamp

.PHONY: install lint test test-all demo bench cub-prep cub-train cub-eval cub-distill celeba-prep \
        inria-pool celeba-train horse-prep horse-train horse-eval horse-distill horse-refine cub-refine hoc-demo hoc-train \
        hoc-count segment export folder-prep folder-train folder-refine folder-segment clean

install: $(STAMP)
# TensorFlow first, the build tools/tf_requirement.py names: tensorflow[and-cuda] where an NVIDIA
# driver answers (or GPU=1), tensorflow-cpu elsewhere (or GPU=0); then the package and its tools.
# Both checks look packages up without importing them (importing TensorFlow twice cost seconds).
$(STAMP): setup.py tools/tf_requirement.py
	@GPU=$(GPU) $(PYTHON) tools/tf_requirement.py --check \
	  || $(PYTHON) -m pip install -q "$$(GPU=$(GPU) $(PYTHON) tools/tf_requirement.py)"
	@$(PYTHON) -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in \
	  'keras tensorboard numpy PIL absl skimage cv2 pytest xdist ruff'.split()))" 2>/dev/null \
	  || $(PYTHON) -m pip install -q -e ".[test]"
	@$(PYTHON) -m pip install -q --no-deps -e .  # the package and its ind-prior-* console scripts
	@touch $(STAMP)

# The lint (ruff.toml: unused or undefined names, imports sorted, double quotes), first in `make test`.
lint: install
	$(PYTHON) -m ruff check --no-cache .

# The suite that CI runs (tests marked slow are left out; `make test-all` runs them too), in
# TEST_JOBS processes (pytest-xdist): much of it is XLA compilation and TensorFlow start-up in
# subprocesses, which use one core each, so 2 jobs on 2 cores take ~40% less time than one. Each job
# holds ~2.5 GB at its peak; TEST_JOBS=0 runs the tests in this process, one at a time.
TEST_JOBS ?= 2
test: lint
	$(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist worksteal --durations=15 -m "not slow" tests

test-all: lint
	$(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist worksteal tests

demo: install
	bash experiments/demo.sh

bench: install
	bash experiments/bench.sh

cub-prep: install
	bash experiments/cub_prep.sh
cub-train: install
	bash experiments/cub_train.sh
cub-eval: install
	bash experiments/cub_eval.sh
cub-distill: install
	bash experiments/cub_distill.sh
# The background pools (docs/data.md): cub-prep samples BG_DIR; celeba-prep samples the INRIA Person
# negatives when INRIA_ROOT is set (the paper's pool), else BG_DIR.
celeba-prep: install
	bash experiments/celeba_prep.sh
# The INRIA Person archive's negatives (INRIA_ROOT/Train/neg, Test/neg) as a pool of its own, for
# --backgrounds of any run: $(PREP_DIR)/inria_bg.npz.
inria-pool: install
	@test -n "$(INRIA_ROOT)" || { echo "error: INRIA_ROOT=<INRIAPerson folder, holding Train/neg and Test/neg> is required, e.g. make inria-pool INRIA_ROOT=data/INRIAPerson" >&2; exit 2; }
	@mkdir -p "$(PREP_DIR)"
	$(PYTHON) -m data_prep.backgrounds --inria_root="$(INRIA_ROOT)" --out="$(PREP_DIR)/inria_bg.npz" \
	  --size=128 --count=4000 --seed=0
celeba-train: install
	bash experiments/celeba_train.sh
horse-prep: install
	bash experiments/horse_prep.sh
horse-train: install
	bash experiments/horse_train.sh
horse-eval: install
	bash experiments/horse_eval.sh
horse-distill: install
	bash experiments/horse_distill.sh
# The refinement chain (ind_prior_tf/refine/plan.py), by default the best recipe measured on the horses,
# after make horse-prep / cub-prep. REFINE_ARGS adds flags of experiments.refine, e.g.
# REFINE_ARGS="--seed=2" or REFINE_ARGS=--dry_run (print the commands only).
REFINE_ARGS ?=
horse-refine: install
	$(PYTHON) -m experiments.refine --dataset=horse --prep_dir=$(PREP_DIR) --runs=$(RUNS) \
	  --raw_root=$(HORSE_ROOT) $(REFINE_ARGS)
cub-refine: install
	$(PYTHON) -m experiments.refine --dataset=cub --prep_dir=$(PREP_DIR) --runs=$(RUNS) \
	  --raw_root=$(CUB_ROOT) $(REFINE_ARGS)
hoc-demo: install
	bash experiments/hoc_demo.sh
hoc-train: install
	bash experiments/hoc_train.sh
hoc-count: install
	bash experiments/hoc_count.sh
# SEGMENT_ARGS adds flags of experiments.segment, e.g. SEGMENT_ARGS=--postprocess=none (the
# network's masks, not the run's recipe), SEGMENT_ARGS=--threshold=0.5, or SEGMENT_ARGS=--overwrite
# to replace an earlier segmentation in OUT_DIR.
SEGMENT_ARGS ?=
segment: install
	bash experiments/segment.sh $(SEGMENT_ARGS)

# Your own category (docs/use.md): a folder of photos IMAGES=... [BOXES=<csv or CUB-style boxes>]
# [MASKS=<folder of masks, for scoring>] -> folder-prep: $(PREP_DIR)/$(FOLDER) and its background pool
# (from outside the boxes, or without BOXES from BG_DIR); then either folder-refine, the refinement
# chain (the best recipe) in $(RUNS)/$(FOLDER)-refine, or folder-train, the GAN teacher alone in
# $(RUNS)/$(FOLDER); folder-segment: masks of IMAGES (in BOXES if given) in OUT_DIR with RUN_DIR, by
# default the chain's result once it has finished (named in its result.txt), else the teacher.
# Each program has its own extra flags: FOLDER_PREP_ARGS (data_prep.folder), FOLDER_TRAIN_ARGS
# (experiments.fgseg), REFINE_ARGS (experiments.refine), SEGMENT_ARGS (experiments.segment).
FOLDER ?= folder
FOLDER_PRESET ?= horse-cpu
FOLDER_PREP_ARGS ?=
FOLDER_TRAIN_ARGS ?=
FOLDER_CHAIN = $(RUNS)/$(FOLDER)-refine
FOLDER_RESULT = $(shell cat "$(FOLDER_CHAIN)/result.txt" 2>/dev/null)
ifneq ($(FOLDER_ARGS),)
$(error FOLDER_ARGS went to three programs; give FOLDER_PREP_ARGS, FOLDER_TRAIN_ARGS, REFINE_ARGS or SEGMENT_ARGS)
endif
folder-prep: install
	@test -n "$(IMAGES)" || { echo "error: IMAGES=<folder of photos> is required, e.g. make folder-prep IMAGES=photos/ [BOXES=boxes.csv] [MASKS=masks/]" >&2; exit 2; }
	@mkdir -p "$(PREP_DIR)"
	$(PYTHON) -m data_prep.folder --images="$(IMAGES)" $(if $(BOXES),--boxes="$(BOXES)",--backgrounds="$(BG_DIR)") \
	  $(if $(MASKS),--masks="$(MASKS)") --out_dir="$(PREP_DIR)/$(FOLDER)" --size=128 $(FOLDER_PREP_ARGS)
folder-train: install
	$(PYTHON) -m experiments.fgseg --prepared="$(PREP_DIR)/$(FOLDER)" --split=all \
	  --backgrounds="$(PREP_DIR)/$(FOLDER)_bg.npz" --preset=$(or $(PRESET),$(FOLDER_PRESET)) \
	  --logdir="$(RUNS)/$(FOLDER)" $(FOLDER_TRAIN_ARGS)
folder-refine: install
	$(PYTHON) -m experiments.refine --prepared="$(PREP_DIR)/$(FOLDER)" --runs="$(RUNS)" \
	  --teacher_preset=$(or $(PRESET),$(FOLDER_PRESET)) $(REFINE_ARGS)
folder-segment: install
	RUN_DIR="$(or $(RUN_DIR),$(if $(FOLDER_RESULT),$(FOLDER_CHAIN)/$(FOLDER_RESULT)),$(RUNS)/$(FOLDER))" \
	  IMAGES="$(IMAGES)" BOXES="$(BOXES)" bash experiments/segment.sh $(SEGMENT_ARGS)
export: install
	bash experiments/export.sh

clean:
	rm -rf $(STAMP) .pytest_cache
