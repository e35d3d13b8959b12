"""The layers import downwards only: ``extract/`` (fetch, parse, land) and ``expectations/`` (the gates) never
import ``observatoire`` (the run, the warehouse, the site); no installed package imports the test data
writers (``tests/recordings``), the benchmark or the DAGs; and no two modules import each other, directly or
around a loop. Checked on the source (every ``import``, at module level or inside a function), so a lazy import
cannot slip through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "extract": {"observatoire", "tests", "bench", "dags"},
    "expectations": {"observatoire", "tests", "bench", "dags"},
    "observatoire": {"tests", "bench", "dags"},
}


def imports_of(path: Path, modules: set[str] | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``. With ``modules`` (the project's), ``from package import
    name`` names the submodule ``package.name`` when there is one, not the package's ``__init__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            if modules is not None and all(m in modules for m in subs):
                out += [(node.lineno, m) for m in subs]
            else:
                out.append((node.lineno, node.module))
    return out


def project_modules() -> dict[str, Path]:
    out = {}
    for package in FORBIDDEN:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


#: loops allowed for now (none since the run got one conductor, issue 22). This list may only shrink.
KNOWN_CYCLES: list[list[str]] = []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_no_higher_layer(package):
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imports_of(path):
            if module.split(".")[0] in FORBIDDEN[package]:
                offending.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offending, (f"{package}/ must not import {sorted(FORBIDDEN[package])}:\n  " + "\n  ".join(offending))


def test_no_import_cycle_but_the_known_one():
    modules = project_modules()
    graph = {m: {target for _line, target in imports_of(path, set(modules)) if target in modules and target != m}
             for m, path in modules.items()}
    cycles = import_cycles(graph)
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "modules importing each other (directly or around a loop): " + "; ".join(" ↔ ".join(c) for c in new)
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"this known cycle is broken, remove it from KNOWN_CYCLES: {gone}"


def test_the_cycle_finder_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_the_check_sees_a_lazy_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import json\n\ndef f():\n    from observatoire.config import load_settings\n"
                      "    import tests.recordings.generate as g\n", encoding="utf-8")
    assert [m for _line, m in imports_of(source)] == ["json", "observatoire.config", "tests.recordings.generate"]
