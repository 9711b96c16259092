"""Import hygiene: no import cycles in nasforge, spaces never load benchmarks, ``import nasforge`` stays cheap.

The graph is read from the source with :mod:`ast`, so it covers every module
whether or not a test imports it. Only imports that run when a module is
imported count: those at module level (including inside top-level ``if``,
``try`` and class bodies), not those inside functions or under
``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nasforge

SRC = Path(nasforge.__file__).resolve().parent  # src/nasforge
ROOT = SRC.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_nodes(node: ast.AST):
    """The import statements executed when the module is imported."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _import_time_nodes(ast.Module(body=[stmt], type_ignores=[]))
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        else:
            yield from _import_time_nodes(child)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if module in PACKAGES else module.rpartition(".")[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, imported: str) -> set[str]:
    """The nasforge modules that importing ``imported`` from ``module`` executes.

    The deepest existing module, plus the ``__init__`` of each package on the way that is not
    already an ancestor of ``module`` (a package importing its own submodules, which import
    their siblings, is not a cycle).
    """
    if not imported.startswith("nasforge"):
        return set()
    parts = imported.split(".")
    out = set()
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in MODULES:
            break
        if name == imported or not (module == name or module.startswith(name + ".")):
            out.add(name)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in _import_time_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges |= _targets(module, alias.name)
            else:
                base = _resolve(module, node)
                edges |= _targets(module, base)
                for alias in node.names:  # `from pkg import submodule`
                    if f"{base}.{alias.name}" in MODULES:
                        edges |= _targets(module, f"{base}.{alias.name}")
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[set[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                sccs.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    cycles = []
    for comp in sccs:
        start = min(comp)
        # shortest path back to start inside the component (breadth first)
        prev: dict[str, str] = {}
        frontier, seen, end = [start], {start}, None
        while frontier and end is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & comp):
                    if w == start:
                        end = v
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if end is not None:
                    break
            frontier = nxt
        path = [end]
        while path[-1] != start:
            path.append(prev[path[-1]])
        cycles.append(list(reversed(path)) + [start])
    return cycles


def test_the_graph_sees_real_imports() -> None:
    graph = import_graph()
    assert len(MODULES) > 40
    assert "nasforge.spaces.base" in graph["nasforge.spaces.nb201"]
    assert "nasforge.spaces.nb201" in graph["nasforge.benchmarks.nb201"]
    assert "nasforge.errors" in graph["nasforge.safe_pickle"]
    assert "nasforge.safe_pickle" in graph["nasforge.data.readers"]
    assert "nasforge.spaces.nn" not in graph["nasforge.spaces.nb201"]  # imported inside build() only


def test_cycle_finder_reports_the_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in cycles)


SPACE_MODULES = sorted(m for m in MODULES if m.startswith("nasforge.spaces"))


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("module", SPACE_MODULES)
def test_spaces_load_no_benchmark(module: str) -> None:
    out = _fresh(f"import sys, importlib; importlib.import_module({module!r}); "
                 f"print(sorted(m for m in sys.modules if m.startswith('nasforge.benchmarks')))")
    assert out.strip() == "[]", f"importing {module} loads {out.strip()}"


def test_import_nasforge_is_cheap() -> None:
    out = _fresh("import sys, nasforge; print('torch' in sys.modules, sorted(m for m in sys.modules "
                 "if m.startswith('nasforge')))")
    assert out.strip() == "False ['nasforge']"


def test_ray_is_imported_only_when_used() -> None:
    """Ray is an optional extra that takes a second to import: the modules that can run on it import it
    only when a Ray executor or pool is made."""
    out = _fresh("import sys, nasforge.executors, nasforge.executors.ray, nasforge.bench, nasforge.cli, "
                 "nasforge.evaluators.proxy_study; print('ray' in sys.modules)")
    assert out.strip() == "False"
