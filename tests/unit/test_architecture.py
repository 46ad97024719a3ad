"""The house rules the tooling keeps: no import circles, small modules, and a layers contract
that fails when a module breaks it (proved on a copy of the tree with a forbidden import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def _cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_cycle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [{"p.a", "p.b"}]


def test_no_import_circles() -> None:
    """Function-level and TYPE_CHECKING imports count: a circle hidden in a function is one."""
    graph = grimp.build_graph("app", "workers", cache_dir=None)
    assert _cycles(graph) == []


def test_no_module_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "app").rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages and the contract, copied: a scratch module never touches the real tree."""
    tree = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("app", "workers"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tree)
    return tree


def test_the_copied_tree_keeps_the_contracts(tree_copy: Path) -> None:
    result = _lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("scratch", "source", "broken"),
    [
        ("app/domain/scratch.py", "from app.adapters.sql import db\n", "Layers"),
        ("app/domain/scratch.py", "from app.ports import core\n", "Layers"),
        ("app/services/scratch.py", "import app.adapters.redis.locks\n", "Layers"),
        ("app/adapters/scratch.py", "from app.services import intake\n", "Layers"),
        ("app/scratch.py", "import json\n", "Layers"),  # a module outside every layer
        ("app/domain/scratch.py", "import sqlalchemy\n", "Domain is pure"),
        ("app/entrypoints/scratch.py", "from app.adapters import system\n", "Edges reach"),
        ("app/services/scratch.py", "import workers.jobs\n", "workers/"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tree_copy: Path, scratch: str, source: str, broken: str
) -> None:
    module = tree_copy / scratch
    module.write_text(source)
    try:
        result = _lint_imports(tree_copy)
    finally:
        module.unlink()
    assert result.returncode != 0
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    assert [line for line in broken_lines if line.startswith(broken)], result.stdout
