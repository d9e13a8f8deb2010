"""Fingerprints of the user's files a download reads and of an imported model (written by the
``check`` stage).

DVC only watches the paths dvc.yaml names, and a ``folder`` source's ``path`` (or a local
``archive`` without a pinned sha256) is a param, not a path DVC knows. The ``check`` stage
(``always_changed``) writes this fingerprint at every ``dvc repro``; ``download`` depends on the
file, so it reruns exactly when a watched file was added, removed or changed.

The fingerprint holds each file's name, size and SHA-256, never times or host facts: the same
files give the same bytes on every machine (and dvc.lock stays unchanged). Hashes are cached by
(size, mtime) in a side file, so an unchanged file is not read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seginterp.core.io import read_json, write_json
from seginterp.data.fetch import sha256_file
from seginterp.data.sources.base import Source, list_files

CACHE_NAME = "watch-cache.json"  # in the downloads folder (working state, not an output)


def _entry(path: Path, cache: dict[str, list[Any]]) -> list[Any]:
    """[size, sha256] of a file; the hash comes from ``cache`` when size and mtime match."""
    st = path.stat()
    key = str(path.resolve())
    hit = cache.get(key)
    if hit is not None and hit[:2] == [st.st_size, st.st_mtime_ns]:
        return [st.st_size, hit[2]]
    digest = sha256_file(path)
    cache[key] = [st.st_size, st.st_mtime_ns, digest]
    return [st.st_size, digest]


def fingerprint(paths: Sequence[Path], cache_file: Path | None = None) -> dict[str, Any]:
    """``{path: fingerprint}``: a folder's visible files (not recursive) as ``{name: [size,
    sha256]}``, a file as ``[size, sha256]``, a missing path as None."""
    cache: dict[str, list[Any]] = {}
    if cache_file is not None and Path(cache_file).is_file():
        try:
            cache = dict(read_json(cache_file))
        except (OSError, ValueError):
            cache = {}  # a damaged cache only costs re-hashing
    out: dict[str, Any] = {}
    for p in map(Path, paths):
        if p.is_dir():
            out[p.as_posix()] = {f.name: _entry(f, cache) for f in list_files(p)}
        elif p.is_file():
            out[p.as_posix()] = _entry(p, cache)
        else:
            out[p.as_posix()] = None
    if cache_file is not None:
        Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(cache_file), dict(sorted(cache.items())))
    return out


def write_fingerprint(source: Source, cfg: Any, out: Path, cache_dir: Path | None) -> int:
    """Write the fingerprint of what ``source`` reads for ``cfg`` to ``out`` (JSON); returns the
    number of files fingerprinted. Sources that read nothing of the user's write no files."""
    paths = source.watched(cfg) if source.watched else []
    files = fingerprint(paths, Path(cache_dir) / CACHE_NAME if cache_dir else None)
    write_json(Path(out), {"source": source.name, "watched": files})
    return sum(len(v) if isinstance(v, dict) else v is not None for v in files.values())


def write_model_fingerprint(pretrained: str | None, out: Path, cache_dir: Path | None) -> None:
    """Write the fingerprint of ``<D>.model.pretrained`` (a file or a save_pretrained folder;
    ``{}`` when null) to ``out`` (JSON): ``train`` depends on it, so a changed checkpoint
    imports it again."""
    paths = [Path(pretrained)] if pretrained else []
    files = fingerprint(paths, Path(cache_dir) / CACHE_NAME if cache_dir else None)
    write_json(Path(out), {"pretrained": files})
