"""No import circles among the library's modules (issue 21).

The graph: a module -> each ``seginterp`` module its imports reach, at any depth of its AST
(an import inside a function runs when the function does) but not under ``if TYPE_CHECKING:``.
``from seginterp.x import y`` reaches the submodule ``seginterp.x.y`` when there is one, and
``seginterp.x`` only on the way there; a package's ``__init__`` runs before any module below
it, so importing ``seginterp.x.y`` reaches the packages above it too, except the importer's own
packages (they are already running when it does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from import_walk import PACKAGE, SRC, imports, module_file, module_name, with_parents


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (edges as the module docstring says)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((src / package).rglob("*.py")):
        me = module_name(path, src)
        edges = graph.setdefault(me, set())
        for target, named in imports(path, src, package, type_checking=False):
            for mod in with_parents(target):
                if mod == me or module_file(mod, src, package) is None:
                    continue
                if (mod == target and named) or not me.startswith(mod + "."):
                    edges.add(mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` through each strongly connected part of ``graph`` that has
    more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    part.add(m)
                    if m == node:
                        break
                if len(part) > 1:
                    parts.append(part)
    return [_cycle_in(graph, part) for part in parts]


def _cycle_in(graph: dict[str, set[str]], part: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``part`` (breadth-first, inside ``part``)."""
    start = min(part)
    came: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for child in sorted(graph[node] & part):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [*reversed(path), start]
            if child not in came:
                came[child] = node
                todo.append(child)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def test_no_import_cycle_in_the_library() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "from pkg.sub import b\n",
                "sub/__init__.py": "",
                "sub/b.py": "def f():\n    from pkg.c import g\n",
                "c.py": "import pkg.a\ndef g(): ...\n",
            },
            ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"],
            id="through-a-function-and-a-submodule",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "x/__init__.py": "from pkg.x.core import X\n",
                "x/core.py": "from pkg.y import Y\nX = 1\n",
                "y.py": "from pkg.x.other import Z\nY = 1\n",
                "x/other.py": "Z = 1\n",
            },
            ["pkg.x", "pkg.x.core", "pkg.y", "pkg.x"],  # pkg.x.other runs pkg/x/__init__.py
            id="through-a-package-init",
        ),
    ],
)
def test_a_cycle_is_found(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    assert cycles(import_graph(_package(tmp_path, files), "pkg")) == [cycle]


def test_type_checking_imports_and_own_packages_are_no_edges(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "__init__.py": "from pkg.x import a\n",
            "x/__init__.py": "from pkg.x.a import A\n",
            "x/a.py": (
                "from typing import TYPE_CHECKING\nfrom pkg.x import b\nA = 1\n"
                "if TYPE_CHECKING:\n    from pkg.c import C\n"
            ),
            "x/b.py": "import pkg.c\n",
            "c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.x.a import A\n"
            ),
        },
    )
    graph = import_graph(src, "pkg")
    assert graph["pkg.x.a"] == {"pkg.x.b"}
    assert graph["pkg.c"] == set()
    assert cycles(graph) == []
