"""What every data source provides, and the image/mask pairing shared by the folder-like sources.

A source turns its ``<D>.download`` params into ``data/<D>/raw`` (:meth:`Source.download`) and
lists the image/mask pairs found there (:attr:`Source.scan`). ``scan`` must depend only on the
files in ``raw`` (DVC re-runs preprocess on a change of ``raw`` or of ``<D>.download.source``, not
on the other download keys).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from seginterp.core.params import ParamsError, from_mapping

log = logging.getLogger(__name__)

#: File extensions read as images or masks (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """Raw data that cannot be used as it is (missing folder, too few images, bad layout)."""


class Pair(NamedTuple):
    """One image/mask pair found in raw/; paths are absolute, ``group`` keeps splits leak-free."""

    id: str
    image_path: Path
    mask_path: Path
    group: str


class Reject(NamedTuple):
    """A file that was found but not used: ``file`` relative to raw/, ``reason`` for a human."""

    file: str
    reason: str


@dataclass(frozen=True)
class DownloadOptions:
    """How a source downloads: where archives are kept, which params to name, progress bars."""

    downloads_dir: Path  # archives and partial downloads (kept: a cut download resumes)
    where: str  # the params section named in messages, e.g. ``kvasir-seg.download``
    progress: bool = True

    def fetch(
        self, url: str, name: str, sha256: str | None, archive: str | None, hint: str
    ) -> Path:
        """The verified file in ``downloads_dir``: from the local ``archive`` when given, else
        from ``url`` (see :func:`seginterp.data.fetch.fetch`); ``hint`` is the param that names
        a local copy. The file name is ``name`` keyed by its origin (URL or local path) and
        ``sha256`` (:func:`~seginterp.data.fetch.download_name`): a changed URL never reuses
        a stale file."""
        from seginterp.data.fetch import download_name, fetch

        origin = f"file:{Path(archive).expanduser().resolve()}" if archive else url
        self.downloads_dir.mkdir(parents=True, exist_ok=True)
        return fetch(
            url,
            self.downloads_dir / download_name(name, origin, sha256),
            sha256=sha256,
            archive=Path(archive) if archive else None,
            param_hint=hint,
            progress=self.progress,
        )

    def unpack(self, archive: Path, target: Path) -> None:
        """Unpack ``archive`` into ``target`` (:func:`seginterp.data.unpack.unpack`). A refused
        archive (unsafe member, corrupt, not an archive) is set aside, so it is never reused."""
        from seginterp.data.fetch import DownloadError, set_aside
        from seginterp.data.unpack import unpack

        try:
            unpack(archive, target)
        except DownloadError as e:
            aside = set_aside(archive, "it cannot be unpacked safely")
            raise DownloadError(
                f"{e} (moved to {aside}, never reused; check the URL or archive in {self.where})"
            ) from e


DownloadFn = Callable[[Any, Path, DownloadOptions], None]
ScanFn = Callable[[Path, Any], tuple[list[Pair], list[Reject]]]


@dataclass(frozen=True)
class Source:
    """A registered data source: its params dataclass, ``download`` and ``scan``."""

    name: str
    params_cls: type
    download_fn: DownloadFn
    scan: ScanFn
    description: str = ""
    watched: Callable[[Any], list[Path]] | None = None  # user files the download reads

    def download(
        self,
        cfg: Any,
        out_dir: Path,
        *,
        downloads_dir: Path | None = None,
        where: str = "",
        progress: bool = True,
    ) -> None:
        """Write the raw files of ``cfg`` into ``out_dir``.

        Archives are kept in ``downloads_dir`` (default ``out_dir/../downloads``); ``where``
        (default ``<name>.download``) is the params section that messages name.
        """
        out_dir = Path(out_dir)
        downloads_dir = Path(downloads_dir) if downloads_dir else out_dir.parent / "downloads"
        opts = DownloadOptions(downloads_dir, where or f"{self.name}.download", progress)
        self.download_fn(cfg, out_dir, opts)

    def parse(self, mapping: Mapping[str, Any], where: str = "") -> Any:
        """Build this source's params from a ``<D>.download`` mapping; unknown keys fail and
        every ``sha256`` key is checked (:func:`check_sha256`)."""
        at = where or f"{self.name}.download"
        cfg = from_mapping(self.params_cls, _checked_sha256(mapping, at), at)
        source = getattr(cfg, "source", self.name)
        if source != self.name:
            raise ParamsError(
                f"{where or 'download'}.source is {source!r} but was parsed as {self.name!r}"
            )
        return cfg


def check_sha256(value: object, where: str) -> str | None:
    """A ``sha256`` param as 64 lower-case hex characters (None stays None).

    YAML reads an unquoted all-digit value as an integer: it is accepted when it renders back to
    64 digits (nothing was lost), otherwise the message says to quote it. Raises ParamsError.
    """
    from seginterp.data.fetch import SHA256_RE

    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        if len(text) == 64:
            return text
        raise ParamsError(
            f"{where} must be 64 hex characters, got {value!r}: YAML read an unquoted "
            "all-digit value as a number (leading zeros are lost); quote it in params.yaml"
        )
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not SHA256_RE.match(text):
        raise ParamsError(f"{where} must be 64 hex characters, got {value!r}")
    return text


def _checked_sha256(value: Any, where: str) -> Any:
    """``value`` with every ``sha256`` key checked by :func:`check_sha256`, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: (check_sha256 if k == "sha256" else _checked_sha256)(v, f"{where}.{k}")
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_checked_sha256(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (absolute if outside ``root``)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def list_files(d: Path) -> list[Path]:
    """Visible regular files of ``d`` (not recursive), sorted by name."""
    return sorted(p for p in d.iterdir() if not p.name.startswith(".") and p.is_file())


def _supported_files(d: Path, raw_dir: Path, rejects: list[Reject]) -> Iterator[Path]:
    """Visible files of ``d`` with an image extension; the others go to ``rejects``."""
    for p in list_files(d):
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            yield p
        else:
            rejects.append(Reject(rel(p, raw_dir), f"unsupported file type {p.suffix or '(none)'}"))


def _index_images(
    image_dirs: Sequence[Path], raw_dir: Path, rejects: list[Reject]
) -> dict[str, Path]:
    """id (file stem) -> image file; a second file of the same id is rejected."""
    images: dict[str, Path] = {}
    for d in image_dirs:
        for p in _supported_files(d, raw_dir, rejects):
            if p.stem in images:
                reason = f"duplicate image id {p.stem!r} (kept {images[p.stem]})"
                rejects.append(Reject(rel(p, raw_dir), reason))
                continue
            images[p.stem] = p
    return images


def _index_masks(
    mask_dir: Path,
    suffixes: Sequence[str],
    images: Mapping[str, Path],
    raw_dir: Path,
    rejects: list[Reject],
) -> dict[str, Path]:
    """image id -> mask file (stem, or stem + one of ``suffixes``); duplicates are rejected."""
    # Longest suffix first, so "x_segmentation" is not taken for id "x_segmentation" with "".
    suffixes = sorted(suffixes, key=len, reverse=True)
    masks: dict[str, Path] = {}
    for p in _supported_files(mask_dir, raw_dir, rejects):
        stem = p.stem
        key = stem
        for s in suffixes:
            if s and stem.endswith(s) and stem[: -len(s)] in images:
                key = stem[: -len(s)]
                break
        if key in masks:
            reason = f"duplicate mask for id {key!r} (kept {masks[key].name})"
            rejects.append(Reject(rel(p, raw_dir), reason))
            continue
        masks[key] = p
    return masks


def pair_images_masks(
    raw_dir: Path,
    image_dirs: Sequence[Path],
    mask_dir: Path,
    *,
    mask_suffixes: Sequence[str] = ("",),
    group_of: Callable[[str], str] | None = None,
) -> tuple[list[Pair], list[Reject]]:
    """Pair every image file with the mask of the same stem (optionally ``stem + suffix``).

    Every visible file in ``image_dirs`` and ``mask_dir`` is accounted for exactly once: as part
    of a pair, or as a reject (unsupported extension, duplicate id, image without mask, mask
    without image). So ``len(pairs) + len(rejects)`` is the number of items found.
    """
    for d in (*image_dirs, mask_dir):
        if not d.is_dir():
            raise DatasetError(f"expected a folder {d} (raw data layout is wrong or incomplete)")
    rejects: list[Reject] = []
    images = _index_images(image_dirs, raw_dir, rejects)
    masks = _index_masks(mask_dir, mask_suffixes, images, raw_dir, rejects)
    pairs: list[Pair] = []
    for stem, img in images.items():
        m = masks.pop(stem, None)
        if m is None:
            rejects.append(Reject(rel(img, raw_dir), f"no mask for this image in {mask_dir.name}/"))
            continue
        pairs.append(Pair(stem, img, m, group_of(stem) if group_of else stem))
    for stem, m in masks.items():
        rejects.append(Reject(rel(m, raw_dir), f"no image for this mask (id {stem!r})"))
    pairs.sort(key=lambda p: p.id)
    return pairs, rejects


def copy_tree_files(src: Path, dst: Path, patterns: Iterable[str] = ("*",)) -> int:
    """Copy the visible files of ``src`` (not recursive) into ``dst``; return how many.

    Copies data only (not permissions: sample data may be read-only) and never hard-links: DVC
    makes cached files read-only, which would also change a hard-linked original.
    """
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    seen: set[Path] = set()
    for pattern in patterns:
        for p in sorted(src.glob(pattern)):
            if p in seen or p.name.startswith(".") or not p.is_file():
                continue
            seen.add(p)
            shutil.copyfile(p, dst / p.name)
            n += 1
    return n


def move_children(src: Path, dst: Path) -> None:
    """Move every entry of ``src`` into ``dst`` (same filesystem), then remove ``src``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        target = dst / p.name
        if target.exists():
            raise DatasetError(f"{target} already exists; refusing to overwrite it with {p}")
        os.replace(p, target)
    src.rmdir()


def place_unpacked(staging: Path, target: Path) -> None:
    """Move an unpacked zip to ``target``, dropping one redundant top folder and ``__MACOSX``."""
    junk = staging / "__MACOSX"
    if junk.is_dir():
        shutil.rmtree(junk)
    entries = list(staging.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        move_children(entries[0], target)
        staging.rmdir()
    else:
        move_children(staging, target)
