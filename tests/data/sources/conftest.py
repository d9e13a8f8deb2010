"""Fixtures of the data-source tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest


def _zip_dir(src: Path, zip_path: Path, prefix: str) -> Path:
    """Zip the files under ``src`` with names ``prefix + relative path``."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(src).as_posix())
    return zip_path


@pytest.fixture
def zip_dir() -> Callable[[Path, Path, str], Path]:
    """``zip_dir(src, zip_path, prefix)``: zip a folder as a mirror of a dataset's archive."""
    return _zip_dir
