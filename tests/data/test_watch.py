"""The fingerprint of the user's files a download reads (written by the `check` stage; the DVC
rerun of `download` when they change is tested in tests/test_check.py)."""

from __future__ import annotations

import os
from pathlib import Path

from support import user_folder

from seginterp.core.io import read_json
from seginterp.data import watch
from seginterp.data.sources.registry import SOURCES


def folder_fp(path: Path, cache_dir: Path | None = None) -> bytes:
    src = SOURCES.get("folder")
    out = cache_dir or path.parent / "fp"
    cfg = src.parse({"source": "folder", "path": str(path)})
    watch.write_fingerprint(src, cfg, out / "w.json", cache_dir)
    return (out / "w.json").read_bytes()


def test_folder_fingerprint_follows_content_not_times(tmp_path: Path) -> None:
    user = user_folder(tmp_path / "user")
    first = folder_fp(user)
    fp = read_json(tmp_path / "fp" / "w.json")
    assert fp["source"] == "folder"
    assert set(fp["watched"]) == {f"{user.as_posix()}/images", f"{user.as_posix()}/masks"}
    assert set(fp["watched"][f"{user.as_posix()}/masks"]) == {"a.png", "b.png"}
    assert folder_fp(user) == first  # same files, same bytes
    t = (user / "masks" / "a.png").stat().st_mtime_ns
    os.utime(user / "masks" / "a.png", ns=(t + 10**9, t + 10**9))
    assert folder_fp(user) == first  # touched only
    (user / "masks" / "a.png").write_bytes(b"masks-A")  # same size, other content
    changed = folder_fp(user)
    assert changed != first
    (user / "images" / "c.png").write_bytes(b"new")
    assert folder_fp(user) != changed
    (user / "images" / "c.png").unlink()
    assert folder_fp(user) == changed
    (user / ".DS_Store").write_bytes(b"x")  # hidden files are not copied, nor watched
    assert folder_fp(user) == changed


def test_hashes_are_cached_by_size_and_mtime(tmp_path: Path, monkeypatch) -> None:
    user = user_folder(tmp_path / "user")
    cache = tmp_path / "downloads"
    folder_fp(user, cache)
    assert (cache / watch.CACHE_NAME).is_file()
    calls: list[Path] = []
    real = watch.sha256_file
    monkeypatch.setattr(watch, "sha256_file", lambda p: calls.append(p) or real(p))
    folder_fp(user, cache)
    assert calls == []
    (user / "images" / "a.png").write_bytes(b"changed!")
    folder_fp(user, cache)
    assert [p.name for p in calls] == ["a.png"]


def test_what_each_source_watches(tmp_path: Path) -> None:
    zip_path = tmp_path / "k.zip"
    zip_path.write_bytes(b"zip")
    kvasir = SOURCES.get("kvasir-seg")
    unpinned = kvasir.parse({"source": "kvasir-seg", "archive": str(zip_path)})
    pinned = kvasir.parse({"source": "kvasir-seg", "archive": str(zip_path), "sha256": "a" * 64})
    assert kvasir.watched(unpinned) == [zip_path] and kvasir.watched(pinned) == []
    assert SOURCES.get("synthetic").watched is None
    folder = SOURCES.get("folder")
    assert folder.watched(folder.parse({"source": "folder", "path": None})) == []
    assert watch.fingerprint([tmp_path / "missing", zip_path]) == {
        (tmp_path / "missing").as_posix(): None,
        zip_path.as_posix(): [3, watch.sha256_file(zip_path)],
    }
