"""The suite's environment (set before any test imports TensorFlow).

Where shared test code lives: pytest fixtures that several modules use go here; plain helpers (tiny
data sets in real layouts, run directories as the entry points write them, stand-in models, running
an entry point in process) live in the helper modules beside this file (entry.py, data_fixtures.py,
fgseg_fixtures.py, run_fixtures.py), which test modules import. A test module never imports another
test module: what two of them share moves into a helper module.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Many tests compile a tiny model's step with XLA and run it a few times, so LLVM's optimisation
# passes cost them more than they save (docs/results.md, 2026-12-02). The HLO and its numerics (no
# fast math either way) stay the users'. Subprocesses inherit this (tests/entry.py copies
# os.environ); an XLA_FLAGS already set wins.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# Under pytest-xdist every worker is one TensorFlow process: with TF's default pools (a thread per
# core each) two workers on two cores run four busy threads, and the suite took more CPU time than
# with one thread per worker (docs/results.md, 2026-12-02). Subprocesses inherit this too.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
  os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# pytest-xdist's worksteal gives each worker a contiguous half of the collected order and a worker that
# runs dry steals the tail of the other's queue, so a test of tens of seconds near the end of either
# half runs alone while the other worker waits. The modules holding such tests (the longest first)
# therefore come first, each module whole and in its own order (module fixtures stay shared); the
# rest follow in the usual order. docs/results.md keeps the durations behind this list.
FIRST = ("test_fgseg_e2e.py", "test_distill_distribute.py", "test_postprocess.py", "test_faults.py",
         "test_determinism.py", "test_distribute.py", "test_precision.py", "test_fgseg_train.py",
         "test_augment.py", "test_instances.py", "test_hoc.py", "test_export.py",
         "test_ensemble.py", "test_optimizers.py", "test_fgseg_step.py", "test_distill.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: modules stay whole
