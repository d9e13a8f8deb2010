"""Small click helpers shared by the stage scripts in ``stages/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def input_dir(*decls: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A required option naming an existing directory (a stage's DVC dependency), as a Path."""
    kind = click.Path(exists=True, file_okay=False, path_type=Path)
    return click.option(*decls, type=kind, required=True, **kwargs)
