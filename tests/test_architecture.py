"""The shape of the code base: no import cycle, short functions, lazy imports only where they pay."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imrestore"
SOURCES = [*sorted(PACKAGE.rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py"))]
SOURCES = [p for p in SOURCES if not {"tests", "build"} & set(p.relative_to(ROOT).parts)]
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The package's modules that an import statement names (``from . import x`` names ``x`` if it is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if node.level:
        base = module_name(path).split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
    return subs or ([target] if target in modules else [])


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        me = module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph.setdefault(me, set()).update(m for m in imported(path, node, modules) if m != me)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    assert "imrestore.runner" in graph and "imrestore.chain" in graph["imrestore.runner"]  # the graph is real
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_package_itself_is_imported_by_none_of_its_modules():
    assert not [m for m, deps in import_graph().items() if "imrestore" in deps]


def test_interfaces_is_a_leaf():
    assert import_graph()["imrestore.interfaces"] <= {"imrestore.params", "imrestore.errors"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_short(path):
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long


def local_imports(path: Path) -> list[tuple[int, str]]:
    """Imports of imrestore's own modules inside functions, with the line of each."""
    source = path.read_text()
    out = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("imrestore")):
                out.append((node.lineno, source.splitlines()[node.lineno - 1]))
            elif isinstance(node, ast.Import) and any(a.name.startswith("imrestore") for a in node.names):
                out.append((node.lineno, source.splitlines()[node.lineno - 1]))
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_imports_of_own_modules_only_defer_a_heavy_library_and_say_so(path):
    """A function-local import of imrestore's own code is allowed only to defer torch (or dask), or, in the command
    line, to let it start at once (``start-up``), with a comment saying so."""
    lines = path.read_text().splitlines()
    reasons = ("torch", "dask", "start-up") if path.name == "cli.py" else ("torch", "dask")
    for lineno, text in local_imports(path):
        near = " ".join(lines[max(0, lineno - 6): lineno + 1])
        assert "lazy" in near and any(r in near for r in reasons), f"line {lineno}: {text.strip()}"
