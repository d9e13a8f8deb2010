"""What dvc.lock records of the outputs the generated README blocks cite, and where DVC's cache
keeps a directory output's file list."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ReadmeError(RuntimeError):
    """The README, dvc.lock or the outputs are not in the state the block needs."""


@dataclass(frozen=True)
class Source:
    """One output a block is rendered from: its path and the md5 dvc.lock records (a directory
    output's ends in ``.dir``)."""

    path: str
    md5: str


def _lock(lock_path: Path) -> dict[str, Any]:
    if not lock_path.is_file():
        raise ReadmeError(f"{lock_path} not found: run `dvc repro` first")
    return yaml.safe_load(lock_path.read_text()) or {}


def locked_outputs(lock_path: Path) -> dict[str, str]:
    """Every output of ``dvc.lock`` (files and directories) -> its md5."""
    out: dict[str, str] = {}
    for stage in (_lock(lock_path).get("stages") or {}).values():
        for o in stage.get("outs") or []:
            out[str(o["path"])] = str(o.get("md5", ""))
    return out


def locked_md5s(lock_path: Path) -> dict[str, str]:
    """Every file output of ``dvc.lock`` -> its md5 (directories are left out)."""
    return {p: m for p, m in locked_outputs(lock_path).items() if not m.endswith(".dir")}


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def manifest_path(root: Path, md5: str) -> Path:
    """Where DVC's cache keeps the file list of a directory output (md5 ``<hex>.dir``)."""
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
