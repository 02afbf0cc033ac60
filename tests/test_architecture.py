"""The layering docs/ARCHITECTURE.md describes, held by reading the source:

- no import cycles among the project's modules (function-level imports count too: a lazy
  import only hides a cycle until the day it runs);
- shared/ (the core) and gpu_jobs/ import no web framework;
- gpu_jobs/ imports nothing from shared/ (Modal ships gpu_jobs/ alone);
- functions/ modules never call the storage ports or the GPU backend themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "functions", "gpu_jobs")
WEB = ("fastapi", "starlette", "uvicorn", "mangum")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
MODULES["modal_app"] = ROOT / "modal_app.py"


def imports_of(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file, resolved to a project module
    when it is one (`from pkg import sub` names pkg.sub when that is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path) if path.name != "modal_app.py" else "modal_app"
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found


GRAPH = {name: {i for i in imports_of(path) if i in MODULES and i != name}
         for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    # A package's __init__ importing its own submodules is how packages re-export; the
    # submodule importing the package back is the cycle, and is counted.
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("package", ["shared", "gpu_jobs"])
def test_the_core_imports_no_web_framework(package):
    offenders = {name: sorted(i for i in imports_of(MODULES[name]) if i.split(".")[0] in WEB)
                 for name in MODULES if name.split(".")[0] == package}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_gpu_jobs_stands_alone():
    offenders = {name: sorted(i for i in GRAPH[name] if i.split(".")[0] != "gpu_jobs")
                 for name in MODULES if name.split(".")[0] == "gpu_jobs"}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_functions_reach_storage_and_gpu_only_through_use_cases():
    forbidden = ("shared.storage", "shared.gpu.inprocess", "shared.gpu.modal", "shared.gpu.off",
                 "shared.repository", "shared.ports")
    offenders = {}
    for name in MODULES:
        if name.split(".")[0] != "functions" or name in ("functions.cli",):
            continue  # the command line is an operator tool over the whole store
        bad = sorted(i for i in imports_of(MODULES[name]) if i.startswith(forbidden))
        if bad:
            offenders[name] = bad
    assert offenders == {}
