"""Download and verify one file (standard library + tqdm only).

:func:`fetch` makes a local file hold verified bytes: from a local ``archive`` (offline machines,
mirrors) or by streaming a URL with resume (HTTP ``Range``) into ``<dest>.part``, which is renamed
onto ``dest`` only after its SHA-256 matches. :mod:`seginterp.data.unpack` then extracts it.

:func:`download_name` keys a file by where it comes from and its expected SHA-256, so a changed
URL or checksum never reuses a stale file; :func:`set_aside` moves a refused archive out of the
way.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from seginterp.core.io import atomic_path

log = logging.getLogger(__name__)

_USER_AGENT = "seginterp-download/0.1 (python urllib)"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
# Errors that mean "the transfer failed", raised while connecting or reading a response body.
_TRANSFER_ERRORS = (OSError, http.client.HTTPException)


class DownloadError(RuntimeError):
    """A file could not be downloaded, verified or unpacked."""


class NetworkError(DownloadError):
    """The URL could not be reached or the transfer broke off; a ``.part`` file is kept."""

    def __init__(self, url: str, reason: str = "", param_hint: str = "") -> None:
        self.url, self.reason, self.param_hint = url, reason, param_hint
        msg = f"cannot download {url} ({reason})." if reason else f"cannot download {url}."
        if param_hint:
            msg += (
                f" On an offline machine download it elsewhere and set {param_hint} "
                "to its path in params.yaml"
            )
        super().__init__(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.url, self.reason, self.param_hint)


class ChecksumError(DownloadError):
    """A file's SHA-256 differs from the expected one."""

    def __init__(self, file: str | Path, expected: str, actual: str, note: str = "") -> None:
        self.file, self.expected, self.actual, self.note = Path(file), expected, actual, note
        msg = f"sha256 mismatch for {self.file}: expected {expected}, got {actual}"
        super().__init__(f"{msg}. {note}" if note else msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.file, self.expected, self.actual, self.note)


def download_name(name: str, origin: str, sha256: str | None) -> str:
    """``name`` with a 12-hex key of (origin, sha256) before its extension.

    E.g. ``kvasir-seg.3f2a9c1b7d4e.zip``: a file (and its ``.part``) fetched from one URL, or
    copied from one local path, with one expected checksum is never taken for another's.
    """
    key = hashlib.sha256(f"{origin}\n{sha256 or ''}".encode()).hexdigest()[:12]
    stem, dot, ext = name.partition(".")
    return f"{stem}.{key}.{ext}" if dot and stem else f"{name}.{key}"


def set_aside(path: Path, why: str) -> Path:
    """Rename a refused file to ``<name>.refused`` (replacing an older one) so it is never
    reused; logs where it went and why. Returns the new path."""
    path = Path(path)
    aside = path.with_name(path.name + ".refused")
    aside.unlink(missing_ok=True)  # rename() does nothing when both are links to one file
    os.replace(path, aside)
    log.warning("%s was refused (%s); moved to %s, which is never reused", path, why, aside.name)
    return aside


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _normalize_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = str(sha256).strip().lower()
    if not SHA256_RE.match(value):
        raise ValueError(f"sha256 {sha256!r} is not a SHA-256 hex digest (64 hex digits)")
    return value


def _verified(path: Path, sha256: str) -> tuple[bool, str]:
    actual = sha256_file(path)
    return actual == sha256, actual


def _log_hash(path: Path, digest: str) -> None:
    log.info("%s: sha256 %s (set it as sha256 in params.yaml to verify later runs)", path, digest)


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    archive: Path | None = None,
    param_hint: str = "",
    progress: bool = True,
    timeout: float = 30.0,
    chunk_size: int = 1 << 16,
) -> Path:
    """Make ``dest`` hold the verified file and return ``dest``.

    An existing ``dest`` that verifies is returned without touching the network. With ``archive``
    the local file is verified, then hard-linked (or copied) onto ``dest``; a mismatching archive
    is left alone. Otherwise ``url`` is streamed into ``<dest>.part`` (resumed with an HTTP Range
    request when a partial file exists), verified and renamed onto ``dest``. With ``sha256=None``
    nothing is verified and the computed hash is logged at INFO so it can be pinned.

    Raises :class:`NetworkError` (the ``.part`` is kept for a later resume),
    :class:`ChecksumError` (the bad download is deleted) or :class:`DownloadError`.
    """
    dest = Path(dest)
    expected = _normalize_sha256(sha256)
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")

    if archive is not None:
        return _fetch_local(Path(archive).expanduser(), dest, expected, param_hint)

    if dest.is_file() and _keep_existing(dest, expected, sha256):
        return dest
    if not url:
        hint = f" or set {param_hint} to a local copy" if param_hint else ""
        raise DownloadError(f"no URL to download {dest.name} from; set one{hint}")

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _download(
        url, part, param_hint=param_hint, progress=progress, timeout=timeout, chunk=chunk_size
    )

    actual = sha256_file(part)
    if expected is not None and actual != expected:
        part.unlink()
        raise ChecksumError(
            dest, expected, actual, note=f"downloaded from {url}; the bad download was deleted"
        )
    if expected is None:
        _log_hash(dest, actual)
    os.replace(part, dest)
    return dest


def _keep_existing(dest: Path, expected: str | None, sha256: str | None) -> bool:
    """Whether the existing ``dest`` can be kept (it verifies, or nothing is expected)."""
    if expected is None:
        _log_hash(dest, sha256_file(dest))
        return True
    ok, actual = _verified(dest, expected)
    if ok:
        log.info("%s already present and verified", dest)
        return True
    log.warning("%s exists but its sha256 is %s, not %s; downloading again", dest, actual, sha256)
    dest.unlink()
    return False


def _fetch_local(archive: Path, dest: Path, expected: str | None, param_hint: str) -> Path:
    """Verify the local ``archive`` and link or copy it onto ``dest``."""
    where = f" (set by {param_hint})" if param_hint else ""
    if not archive.is_file():
        what = "is not a file" if archive.exists() else "does not exist"
        raise DownloadError(f"local archive {archive}{where} {what}")
    same = dest.is_file() and os.path.samefile(archive, dest)
    if not same and expected is not None and dest.is_file() and _verified(dest, expected)[0]:
        log.info("%s already present and verified", dest)
        return dest
    # Verify the source, not the copy: a mismatching archive is the user's file, never deleted.
    actual = sha256_file(archive)
    if expected is not None and actual != expected:
        raise ChecksumError(
            archive, expected, actual, note=f"local archive{where}; it was left untouched"
        )
    if expected is None:
        _log_hash(archive, actual)
    if same:
        return dest
    with atomic_path(dest) as tmp:
        tmp.unlink()  # os.link refuses an existing name
        try:
            os.link(archive, tmp)
        except OSError as e:  # other file system, no hard links, not ours: copy instead
            log.debug("cannot hard-link %s (%s); copying", archive, e)
            shutil.copyfile(archive, tmp)
    return dest


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """(first byte, last byte, total size) from a Content-Range header; None where unknown."""
    m = _CONTENT_RANGE_RE.match(value or "")
    if not m:
        return None, None, None
    first = int(m.group(1)) if m.group(1) is not None else None
    last = int(m.group(2)) if m.group(2) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return first, last, total


def _open(url: str, offset: int, timeout: float, param_hint: str) -> Any:
    """Open ``url`` asking for bytes from ``offset``; 416 is returned, other errors raised."""
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset > 0:
            return e
        e.close()
        raise NetworkError(url, f"HTTP {e.code} {e.reason}", param_hint) from e
    except urllib.error.URLError as e:
        raise NetworkError(url, str(e.reason), param_hint) from e
    except _TRANSFER_ERRORS as e:
        raise NetworkError(url, f"{type(e).__name__}: {e}", param_hint) from e


def _download(
    url: str, part: Path, *, param_hint: str, progress: bool, timeout: float, chunk: int
) -> None:
    """Stream ``url`` into ``part``, resuming a partial one; return when it is complete."""
    for _attempt in range(2):  # a second pass only after a useless partial file was dropped
        offset = part.stat().st_size if part.is_file() else 0
        resp = _open(url, offset, timeout, param_hint)
        with resp:
            status = getattr(resp, "status", None) or 200  # file:// URLs have no status
            if status == 416:
                _, _, total = _content_range(resp.headers.get("Content-Range"))
                if total == offset:
                    log.info("%s is already complete", part)
                    return
                log.warning("server refused to resume %s at byte %d; restarting", part, offset)
                part.unlink()
                continue
            start, total = 0, None
            if status == 206:
                start, last, total = _content_range(resp.headers.get("Content-Range"))
                if total is None and last is not None:
                    total = last + 1
                if start != offset:
                    log.warning("server resumed %s at %s, not %d; restarting", part, start, offset)
                    part.unlink()
                    continue
            else:
                if offset > 0:
                    log.info("server ignored the Range request for %s; restarting from 0", url)
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            if start:
                log.info("resuming %s at byte %d", part, start)
            _stream(resp, part, start, total, url, param_hint, progress, chunk)
            return
    raise DownloadError(f"cannot resume or restart the download of {url} into {part}")


def _stream(
    resp: BinaryIO,
    part: Path,
    start: int,
    total: int | None,
    url: str,
    param_hint: str,
    progress: bool,
    chunk: int,
) -> None:
    """Write the response body to ``part`` from byte ``start``; check it is complete."""
    done = start
    with (
        part.open("ab" if start else "wb") as fh,
        tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            disable=None if progress else True,  # None: no bar when not on a terminal
        ) as bar,
    ):
        while True:
            try:
                block = resp.read(chunk)
            except _TRANSFER_ERRORS as e:
                raise NetworkError(
                    url, f"transfer broke off after {done} bytes: {e}", param_hint
                ) from e
            if not block:
                break
            fh.write(block)
            done += len(block)
            bar.update(len(block))
    # http.client returns b"" (no error) when the peer closes before Content-Length was reached.
    if total is not None and done != total:
        raise NetworkError(url, f"connection closed after {done} of {total} bytes", param_hint)
