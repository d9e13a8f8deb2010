"""Atomic file writes and small npz / Parquet / JSON helpers. Depends on nothing of ours."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp makes 0600; the result is an ordinary output file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; it replaces ``path`` on success.

    Temporary siblings that a killed run left behind (``.<name>.*.tmp``) are removed first: one
    output has one writer (DVC locks the repository while a stage runs).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    own = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")  # mkdtemp's names
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        if own.fullmatch(stale.name):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; the result is an ordinary output directory
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _check_finite(o: Any, where: str = "$") -> None:
    if isinstance(o, float) and not math.isfinite(o):
        raise ValueError(f"non-finite value {o} at {where}; metrics must be finite (use null)")
    if isinstance(o, Mapping):
        for k, v in o.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(o, list | tuple):
        for i, v in enumerate(o):
            _check_finite(v, f"{where}[{i}]")


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, pretty-printed; NaN/inf are refused (JSON has no such values)."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=True)
    _check_finite(json.loads(text))
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a compressed npz atomically."""
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            np.savez_compressed(fh, **arrays)


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            np.save(fh, array)
