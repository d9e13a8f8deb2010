"""What the library's modules import, read from their AST (shared by the import tests).

``imported_modules`` sees imports at any depth (inside functions too: they run when the
function does); ``imports`` is the same walk as edges of the module graph, without the
imports under ``if TYPE_CHECKING:`` (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from support import ROOT

SRC = ROOT / "src"
PACKAGE = "seginterp"


def module_file(module: str, src: Path = SRC, package: str = PACKAGE) -> Path | None:
    """The file of ``module`` under ``src``, or None when it is not ours / does not exist."""
    if module != package and not module.startswith(package + "."):
        return None
    base = src.joinpath(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def module_name(path: Path, src: Path = SRC) -> str:
    """``src/a/b/c.py`` -> ``a.b.c``; ``src/a/b/__init__.py`` -> ``a.b``."""
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements below ``node``; with ``type_checking=False``, none of those in the
    body of an ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _import_nodes(child, type_checking)


def imports(
    path: Path, src: Path = SRC, package: str = PACKAGE, type_checking: bool = True
) -> Iterator[tuple[str, bool]]:
    """``(module, named)`` for each module an import in ``path`` names (relative imports
    refused): ``named`` is False for a package ``from package import submodule`` reaches only
    on the way to the submodule (``from seginterp.core import io`` names ``seginterp.core.io``)."""
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path)), type_checking):
        if isinstance(node, ast.Import):
            yield from ((alias.name, True) for alias in node.names)
            continue
        if node.level:
            raise AssertionError(f"{path}: relative import (use absolute {package}.* imports)")
        mod = node.module or ""
        subs = [f"{mod}.{a.name}" for a in node.names]
        subs = [s for s in subs if module_file(s, src, package)]
        yield from ((s, True) for s in subs)
        yield mod, len(subs) < len(node.names)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its AST (``if TYPE_CHECKING:`` included)."""
    return {module for module, _ in imports(path)}
