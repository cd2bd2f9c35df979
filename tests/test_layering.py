"""Layering: no check module imports another check module, and no import cycle among modules."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import checks

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("consistency", "checks", "probes", "reports")


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (inside functions too: an
    import deferred to call time still ties the two modules together)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import name`` imports pkg, and pkg.name when that is a module
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> nx.DiGraph:
    files = module_files()
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        graph.add_edges_from((name, target) for target in imports_of(name, path, set(files)))
    return graph


def test_no_check_module_imports_another():
    graph = import_graph()
    builtin = set(checks._BUILTIN_MODULES)
    assert len(builtin) >= 7 and builtin <= set(graph)
    crossing = sorted((a, b) for a, b in graph.edges if a in builtin and b in builtin)
    assert crossing == [], "shared helpers belong in a module both use (e.g. checks/base.py, checks/hidden.py)"


def test_no_import_cycles():
    cycles = sorted(nx.simple_cycles(import_graph()))
    assert cycles == []


def test_the_graph_sees_deferred_imports():
    """The checker must not pass by missing edges: the audit's deferred adapter import and a
    check module's import of the registry are both seen."""
    graph = import_graph()
    assert graph.has_edge("consistency.audit", "consistency.adapters.hf")
    assert graph.has_edge("checks.probe", "checks.hidden")
    assert graph.has_edge("checks.w2s_copies", "checks")
