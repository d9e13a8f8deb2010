"""Kvasir-SEG (Jha et al. 2020): 1000 polyp images with JPEG masks, one official zip.

raw/ is laid out as the archive unpacks: ``Kvasir-SEG/images/<id>.jpg``,
``Kvasir-SEG/masks/<id>.jpg`` (same stem) and ``Kvasir-SEG/kavsir_bboxes.json``. The masks are
noisy RGB JPEGs (R = G = B, values 1-8 and 247-254 besides 0 and 255), decided by
:mod:`seginterp.data.masks` (rule "two clusters": a value >= 128 is foreground).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from seginterp.data.sources.base import (
    DatasetError,
    DownloadOptions,
    Pair,
    Reject,
    move_children,
    pair_images_masks,
)

log = logging.getLogger(__name__)

ARCHIVE_NAME = "kvasir-seg.zip"
TOP_DIR = "Kvasir-SEG"


@dataclass(frozen=True)
class KvasirSegParams:
    """``<D>.download`` of the Kvasir-SEG source."""

    source: str = "kvasir-seg"
    url: str = "https://datasets.simula.no/downloads/kvasir-seg.zip"
    sha256: str | None = None  # null = not verified (the hash is logged so it can be pinned)
    archive: str | None = None  # path to kvasir-seg.zip already on disk


def download(cfg: KvasirSegParams, out_dir: Path, opts: DownloadOptions) -> None:
    """Fetch (or take ``cfg.archive``), verify and unpack the official zip into ``out_dir``.

    The zip is kept in ``opts.downloads_dir`` under a name keyed by its URL (or local path) and
    sha256: a cut download resumes there on the next run, a finished one is not fetched again,
    and a refused one (unsafe, corrupt, wrong layout) is set aside, never reused.
    """
    from seginterp.data.fetch import set_aside

    where = opts.where
    zip_path = opts.fetch(cfg.url, ARCHIVE_NAME, cfg.sha256, cfg.archive, f"{where}.archive")
    staging = out_dir / ".unpack"
    opts.unpack(zip_path, staging)
    if not (staging / TOP_DIR / "images").is_dir():
        found = sorted(p.name for p in staging.iterdir())
        aside = set_aside(zip_path, f"no {TOP_DIR}/images inside")
        raise DatasetError(
            f"{zip_path.name} does not hold {TOP_DIR}/images (top level: {found}; moved to "
            f"{aside}); is {where}.url / {where}.archive the Kvasir-SEG zip?"
        )
    move_children(staging, out_dir)
    log.info("unpacked %s into %s", zip_path, out_dir)


def watched(cfg: KvasirSegParams) -> list[Path]:
    """The local archive when its sha256 is not pinned (a pinned one cannot change unseen)."""
    return [Path(cfg.archive).expanduser()] if cfg.archive and not cfg.sha256 else []


def scan(raw_dir: Path, cfg: KvasirSegParams | None = None) -> tuple[list[Pair], list[Reject]]:
    """Pairs ``Kvasir-SEG/images/<id>.jpg`` with ``Kvasir-SEG/masks/<id>.jpg``."""
    raw_dir = Path(raw_dir)
    root = raw_dir / TOP_DIR
    return pair_images_masks(raw_dir, [root / "images"], root / "masks")
