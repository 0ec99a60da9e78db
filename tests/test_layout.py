# SPDX-License-Identifier: Apache-2.0
"""The package's shape, read from its source (no module is imported): grouped
by role with few modules at the top, short files and functions, imports from
each name's owner, no private names across modules and no import cycle,
function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from conftest import ROOT

PACKAGE = ROOT / "tuss_plugin"
MAX_TOP_MODULES = 8
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
# package inits that are an API: names loaded on first use (and the plugin's registration)
API_INITS = {"tuss_plugin", "tuss_plugin.inference"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Dict[str, Tuple[Path, ast.Module]]:
    return {module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))}


SOURCES = sources()


def owner_of(module: str, name: str) -> Optional[str]:
    """The module that imports ``module``.``name`` really loads: the submodule
    itself if there is one, else ``module``."""
    return f"{module}.{name}" if f"{module}.{name}" in SOURCES else module


def imports(tree: ast.Module) -> List[ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module]


def top_level_names(tree: ast.Module) -> Tuple[Set[str], Set[str]]:
    """(names defined in the module, names it imports) at its top level."""
    defined: Set[str] = set()
    imported: Set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            defined |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.If, ast.Try)):
            for n in ast.walk(node):
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                    defined.add(n.name)
                elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    defined.add(n.id)
                elif isinstance(n, ast.ImportFrom):
                    imported |= {a.asname or a.name for a in n.names}
    return defined, imported


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_files_and_functions_are_short():
    long_files = {}
    long_functions = {}
    for name, (path, tree) in SOURCES.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_FILE_LINES:
            long_files[name] = lines
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions[f"{name}.{node.name}"] = n
    assert long_files == {} and long_functions == {}


def test_names_come_from_their_owner_and_no_private_name_crosses_a_module():
    """``from tuss_plugin.X import n``: ``n`` is defined in X (or is its submodule),
    never re-exported by X from elsewhere, and never ``_private``."""
    problems = []
    files = [(n, t) for n, (_, t) in SOURCES.items()]
    files += [
        (str(p.relative_to(ROOT)), ast.parse(p.read_text(encoding="utf-8"))) for p in (ROOT / "tests").rglob("*.py")
    ]
    for where, tree in files:
        for node in imports(tree):
            if not node.module.startswith("tuss_plugin") or node.module not in SOURCES:
                continue
            defined, imported = top_level_names(SOURCES[node.module][1])
            for alias in node.names:
                n = alias.name
                if owner_of(node.module, n) != node.module:
                    continue  # a submodule
                if n.startswith("_") and n != "__version__":
                    problems.append(f"{where}: private {node.module}.{n}")
                elif n in imported and n not in defined and node.module not in API_INITS:
                    problems.append(f"{where}: {n} is re-exported by {node.module}")
    assert problems == []


def test_package_inits_hold_no_code():
    """One import policy: a package's ``__init__`` is its docstring, except the
    two that are an API (names loaded on first use)."""
    busy = []
    for name, (path, tree) in SOURCES.items():
        if path.name == "__init__.py" and name not in API_INITS:
            body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            if body:
                busy.append(name)
    assert busy == []


def import_graph() -> Dict[str, Set[str]]:
    """{module: the package modules it imports anywhere (function level included)}."""
    graph: Dict[str, Set[str]] = {}
    for name, (_, tree) in SOURCES.items():
        edges: Set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in SOURCES:
                edges |= {owner_of(node.module, a.name) for a in node.names}
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in SOURCES}
        graph[name] = {e for e in edges if e != name and e in SOURCES}
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` as a list of modules, or None (iterative DFS)."""
    state: Dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_no_import_cycle():
    graph = import_graph()
    # a package init is imported with each of its modules: count it only for what it imports
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
