"""The shape of the library: no import circle, no module over 400 lines, no room over a dozen
modules, and packages and configs that load without TensorFlow (so that a bad flag is reported before
its seconds-long import)."""
import os
import subprocess
import sys

from tests import entry

sys.path.insert(0, os.path.join(entry.ROOT, "tools"))
import import_graph  # noqa: E402

TF_FREE = ["ind_prior_tf.cli", "ind_prior_tf.knobs", "ind_prior_tf.fgseg.config",
           "ind_prior_tf.distill.config", "ind_prior_tf.hoc.config", "ind_prior_tf.hoc.auto",
           "ind_prior_tf.hoc.instances.count", "ind_prior_tf.refine.config",
           "ind_prior_tf.refine.plan", "ind_prior_tf.refine.run", "ind_prior_tf.postprocess.stage",
           "ind_prior_tf.apply.config", "ind_prior_tf.apply.consistency",
           "ind_prior_tf.runtime.runinfo", "ind_prior_tf.runtime.rundir"]


def test_no_circle_no_long_module_no_crowded_room():
  modules = import_graph.module_files()
  graph = {n: import_graph.imports_of(p, n, modules) - import_graph.parents(n)
           for n, p in modules.items()}
  assert import_graph.cycles(graph) == []
  lines = {n: sum(1 for _ in open(p, encoding="utf-8")) for n, p in modules.items()}
  assert max(lines.values()) <= 400, max(lines, key=lines.get)
  rooms = {}
  for name, path in modules.items():
    if not path.endswith("__init__.py"):
      rooms.setdefault(os.path.dirname(path), []).append(name)
  assert max(len(m) for m in rooms.values()) <= 13, {r: len(m) for r, m in rooms.items()}


def test_packages_and_configs_import_without_tensorflow():
  packages = [n for n, p in import_graph.module_files().items() if p.endswith("__init__.py")]
  code = ("import importlib, sys\n"
          f"for name in {packages + TF_FREE!r}:\n"
          "  importlib.import_module(name)\n"
          "  assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, name\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env=entry.env(), cwd=entry.ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
