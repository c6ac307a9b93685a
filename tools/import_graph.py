"""The import graph of the ind_prior_tf package: its cycles and its modules' line counts.

  python tools/import_graph.py            # every module, its lines and what it imports; then cycles
  python tools/import_graph.py --check    # exit 1 on a cycle or a module over --max_lines

Reads the sources with ast (nothing is imported, so it runs without TensorFlow). Every import counts,
also those inside functions: a lazy import hides a circle from Python but not from a reader.
"""
import argparse
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "ind_prior_tf"


def module_files(root=ROOT, package=PACKAGE):
  """{dotted module name: path} of every .py file under the package."""
  out = {}
  for folder, _, names in os.walk(os.path.join(root, package)):
    for name in names:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        parts = os.path.relpath(path, root)[:-3].split(os.sep)
        if parts[-1] == "__init__":
          parts = parts[:-1]
        out[".".join(parts)] = path
  return out


def imports_of(path, name, modules):
  """The package modules that the file at `path` (module `name`) imports, anywhere in it."""
  tree = ast.parse(open(path, encoding="utf-8").read(), path)
  is_package = os.path.basename(path) == "__init__.py"
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: from the module's package, up level - 1 more
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
      # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg.
      targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    else:
      continue
    for target in targets:
      while target and target not in modules:  # a.b.c of a non-module c: a.b
        target = target.rpartition(".")[0]
      if target and target != name:
        found.add(target)
  return found


def parents(name):
  """A module's enclosing packages, which Python imports before it (a.b.c: a, a.b)."""
  parts = name.split(".")
  return {".".join(parts[:i]) for i in range(1, len(parts))}


def cycles(graph):
  """The strongly connected components with more than one module (Tarjan), each sorted."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []
  counter = [0]

  def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1 or v in graph[v]:
        out.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true", help="exit 1 on a cycle or a long module")
  parser.add_argument("--max_lines", type=int, default=400, help="the longest module allowed")
  args = parser.parse_args()
  modules = module_files()
  # Edges are the imports as written; a package's __init__ importing its own submodules is not a
  # circle with them (Python finishes the package before they run), so parent packages are left out.
  graph = {name: imports_of(path, name, modules) - parents(name) for name, path in modules.items()}
  lines = {name: sum(1 for _ in open(path, encoding="utf-8")) for name, path in modules.items()}
  for name in sorted(modules):
    flag = "  <- over %d lines" % args.max_lines if lines[name] > args.max_lines else ""
    deps = ", ".join(sorted(d.replace(PACKAGE + ".", "") for d in graph[name]))
    print(f"{lines[name]:5d}  {name}{flag}" + (f"  -> {deps}" if deps else ""))
  found = cycles(graph)
  long = [n for n in modules if lines[n] > args.max_lines]
  print(f"\n{len(modules)} modules, {sum(lines.values())} lines; longest: "
        f"{max(lines, key=lines.get)} ({max(lines.values())} lines)")
  print("import cycles: " + ("; ".join(" <-> ".join(c) for c in found) if found else "none"))
  if args.check and (found or long):
    sys.exit(1)


if __name__ == "__main__":
  main()
