# ind-prior-tf: every target installs what is missing first, then runs a script in experiments/.
# Dataset paths are make variables: `make cub-prep CUB_ROOT=/data/CUB_200_2011`.
PYTHON ?= python3
SHARED ?= ../shared/data
CUB_ROOT ?= data/CUB_200_2011
CELEBA_ROOT ?= data/celeba
BG_DIR ?= $(SHARED)/backgrounds
HORSE_ROOT ?= $(SHARED)/weizmann_horse
PREP_DIR ?= prepared
RUNS ?= runs
PRESET ?=
HOC_IMAGE ?= skimage:coins
GPU ?=
export PYTHON SHARED CUB_ROOT CELEBA_ROOT BG_DIR HORSE_ROOT PREP_DIR RUNS PRESET HOC_IMAGE

STAMP := .installed.stamp

.PHONY: install test test-all demo bench cub-prep cub-train cub-eval cub-distill celeba-prep \
        celeba-train horse-prep horse-train horse-eval horse-distill horse-refine cub-refine hoc-demo hoc-train hoc-count segment export clean

install: $(STAMP)
# TensorFlow first, the build tools/tf_requirement.py names: tensorflow[and-cuda] where an NVIDIA
# driver answers (or GPU=1), tensorflow-cpu elsewhere (or GPU=0); then the package and its tools.
$(STAMP): setup.py tools/tf_requirement.py
	@GPU=$(GPU) $(PYTHON) tools/tf_requirement.py --check \
	  || $(PYTHON) -m pip install -q "$$(GPU=$(GPU) $(PYTHON) tools/tf_requirement.py)"
	@$(PYTHON) -c "import keras, tensorboard, numpy, PIL, absl, skimage, cv2, pytest, xdist" 2>/dev/null \
	  || $(PYTHON) -m pip install -q -e ".[test]"
	@$(PYTHON) -m pip install -q --no-deps -e .  # the package and its ind-prior-* console scripts
	@touch $(STAMP)

# The suite that CI runs (tests marked slow are left out; `make test-all` runs them too), in
# TEST_JOBS processes (pytest-xdist): much of it is XLA compilation and TensorFlow start-up in
# subprocesses, which use one core each, so 2 jobs on 2 cores take ~40% less time than one. Each job
# holds ~2.5 GB at its peak; TEST_JOBS=0 runs the tests in this process, one at a time.
TEST_JOBS ?= 2
test: install
	$(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist worksteal --durations=15 -m "not slow" tests

test-all: install
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
celeba-prep: install
	bash experiments/celeba_prep.sh
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
# The refinement chain (ind_prior_tf/refine.py), by default the best recipe measured on the horses,
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
segment: install
	bash experiments/segment.sh
export: install
	bash experiments/export.sh

clean:
	rm -rf $(STAMP) .pytest_cache
