"""Unpack a zip or tar archive safely: nothing is written outside the target directory.

Every member is checked before anything is extracted (zip slip, absolute paths, drive letters,
links leaving the target, device files); extraction goes to a temporary directory beside the
target, which replaces it only on success.
"""

from __future__ import annotations

import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seginterp.core.io import atomic_dir
from seginterp.data.fetch import DownloadError

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Raised by tarfile's extraction filters (Python >= 3.10.12 / 3.11.4); () matches nothing.
_TAR_FILTER_ERRORS: Any = getattr(tarfile, "FilterError", ())


class UnsafeArchiveError(DownloadError):
    """An archive member would be written (or link) outside the extraction directory."""

    def __init__(self, archive: str | Path, member: str, reason: str) -> None:
        self.archive, self.member, self.reason = Path(archive), member, reason
        super().__init__(
            f"refusing to unpack {self.archive}: member {member!r} {reason}; nothing was extracted"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.archive, self.member, self.reason)


def _check_name(archive: Path, name: str) -> str:
    """The member name as a clean relative POSIX path; UnsafeArchiveError when it escapes."""
    if "\x00" in name:
        raise UnsafeArchiveError(archive, name, "contains a NUL byte")
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        raise UnsafeArchiveError(archive, name, "has an absolute path")
    if _DRIVE_RE.match(posix):
        raise UnsafeArchiveError(archive, name, "has a drive letter")
    parts = posix.split("/")
    if ".." in parts:
        raise UnsafeArchiveError(archive, name, "has a '..' component")
    return "/".join(p for p in parts if p not in ("", "."))


def _resolve_link(target: str, base: str, symlinks: set[str]) -> str | None:
    """Resolve link ``target`` relative to directory ``base`` inside the archive.

    Returns the normalized path, or None when it is absolute, leaves the root, or applies '..'
    beneath another symlink of the archive (whose real location text cannot tell).
    """
    posix = target.replace("\\", "/")
    if posix.startswith("/") or _DRIVE_RE.match(posix):
        return None
    stack = [p for p in base.split("/") if p]
    for p in posix.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not stack or any("/".join(stack[: i + 1]) in symlinks for i in range(len(stack))):
                return None
            stack.pop()
        else:
            stack.append(p)
    return "/".join(stack)


def _check_links(archive: Path, links: Iterable[tuple[str, str, bool]]) -> None:
    """Refuse links leaving the root: (member, target, is_symlink) triples, names already clean."""
    links = list(links)
    symlinks = {name for name, _, is_sym in links if is_sym}
    for name, target, is_sym in links:
        base = posixpath.dirname(name) if is_sym else ""  # hard links are relative to the root
        if _resolve_link(target, base, symlinks) is None:
            kind = "symlink" if is_sym else "hard link"
            raise UnsafeArchiveError(archive, name, f"is a {kind} to {target!r} outside the target")


def _zip_links(archive: Path, zf: zipfile.ZipFile) -> list[tuple[str, str, bool]]:
    """Check every zip member name; return its symlinks (unix mode S_IFLNK)."""
    links = []
    for info in zf.infolist():
        name = _check_name(archive, info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            links.append((name, zf.read(info).decode("utf-8", "surrogateescape"), True))
    return links


def _tar_links(archive: Path, tf: tarfile.TarFile) -> list[tuple[str, str, bool]]:
    """Check every tar member name and type; return its symlinks and hard links."""
    links = []
    for member in tf.getmembers():
        name = _check_name(archive, member.name)
        if member.issym() or member.islnk():
            links.append((name, member.linkname, member.issym()))
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(archive, member.name, "is a device or FIFO")
    return links


def unpack(archive: Path, target: Path) -> Path:
    """Unpack a zip or tar (``.tar``, ``.tar.gz``/``.tgz``, ...) archive into ``target``.

    Every member is checked before anything is written: absolute paths, drive letters, '..'
    components, links leaving the directory and device files raise
    :class:`UnsafeArchiveError`. Members are extracted into a temporary directory beside
    ``target``, which replaces ``target`` (an existing one included) only on success. Zip
    symlink entries are extracted as small files holding the link text, as :mod:`zipfile` does.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DownloadError(f"archive {archive} does not exist")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _check_links(archive, _zip_links(archive, zf))
                with atomic_dir(target) as tmp:
                    tmp.chmod(0o755)  # mkdtemp makes 0700; the data should stay readable
                    zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                _check_links(archive, _tar_links(archive, tf))
                with atomic_dir(target) as tmp:
                    tmp.chmod(0o755)
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                        tf.extractall(tmp, filter="data")
                    else:
                        tf.extractall(tmp)
        else:
            raise DownloadError(
                f"{archive} is not a zip or tar archive (or is truncated); "
                "delete it and download it again"
            )
    except _TAR_FILTER_ERRORS as e:  # the data filter's own check, on the real file system
        name = e.tarinfo.name if e.tarinfo is not None else "?"
        raise UnsafeArchiveError(archive, name, str(e)) from e
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:
        raise DownloadError(f"{archive} is corrupt ({e}); delete it and download it again") from e
    return target
