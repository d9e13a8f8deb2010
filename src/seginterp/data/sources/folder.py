"""A user's own data: a folder with ``images/`` and ``masks/`` (params ``path``).

Masks are matched to images by stem: ``masks/<stem>.<ext>``, or ``<stem>_mask`` /
``<stem>_segmentation`` (ISIC naming). Masks may be any kind :mod:`seginterp.data.masks` decides:
0/255 or 0/1 in any encoding (JPEG noise included), palette, one colour on black; label maps
with ``preprocess.mask_foreground``. The files are copied into raw/ (never hard-linked: DVC makes
cached files read-only, which would change the user's originals).

``path/images`` and ``path/masks`` are watched (:func:`watched`, :mod:`seginterp.data.watch`):
the ``watch`` stage fingerprints them at every ``dvc repro``, so adding, removing or changing a
file there reruns ``download``.
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
    copy_tree_files,
    pair_images_masks,
)

log = logging.getLogger(__name__)

MASK_SUFFIXES = ("", "_mask", "_segmentation")


@dataclass(frozen=True)
class FolderParams:
    """``<D>.download`` of the folder source."""

    source: str = "folder"
    path: str | None = None  # folder holding images/ and masks/ (relative to the project root)


def download(cfg: FolderParams, out_dir: Path, opts: DownloadOptions) -> None:
    """Copy ``<path>/images`` and ``<path>/masks`` into ``out_dir/images`` and ``out_dir/masks``."""
    where = opts.where
    if not cfg.path:
        raise DatasetError(
            f"{where}.path is not set: set it in params.yaml to a folder with images/ and masks/ "
            f"(matching file stems), e.g. `dvc exp run -S {where}.path=/data/my-set`"
        )
    src = Path(cfg.path).expanduser()
    missing = [d for d in ("images", "masks") if not (src / d).is_dir()]
    if missing:
        raise DatasetError(
            f"{where}.path = {cfg.path!r}: {src.resolve()} has no {' or '.join(missing)}/ "
            "folder (expected images/ and masks/ with matching file stems)"
        )
    out_dir = Path(out_dir)
    n_img = copy_tree_files(src / "images", out_dir / "images")
    n_mask = copy_tree_files(src / "masks", out_dir / "masks")
    log.info("copied %d image and %d mask files from %s", n_img, n_mask, src)


def watched(cfg: FolderParams) -> list[Path]:
    """The user's ``images/`` and ``masks/`` folders (none while ``path`` is not set)."""
    if not cfg.path:
        return []
    src = Path(cfg.path).expanduser()
    return [src / "images", src / "masks"]


def scan(raw_dir: Path, cfg: FolderParams | None = None) -> tuple[list[Pair], list[Reject]]:
    """Pairs ``images/<stem>.*`` with ``masks/<stem>[_mask|_segmentation].*``."""
    raw_dir = Path(raw_dir)
    return pair_images_masks(
        raw_dir, [raw_dir / "images"], raw_dir / "masks", mask_suffixes=MASK_SUFFIXES
    )
