"""HAM10000 (Tschandl et al. 2018) dermoscopy images with the lesion masks of Tschandl et al. 2020.

The download is a list of files (params ``files``): zips are unpacked into ``raw/<zip stem>/``
(whether or not the zip has that folder at its top), other files are copied to ``raw/<name>``::

    raw/HAM10000_images_part_1/ISIC_<id>.jpg
    raw/HAM10000_images_part_2/ISIC_<id>.jpg
    raw/HAM10000_segmentations_lesion_tschandl/ISIC_<id>_segmentation.png
    raw/HAM10000_metadata.csv

Several images show one lesion; ``group`` is the metadata's ``lesion_id`` so that a group-aware
split keeps a lesion in one split. 402 of the masks are palette PNGs with an inverted palette;
:mod:`seginterp.data.masks` applies the palette before deciding (index 0 white = lesion).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seginterp.core.params import ParamsError
from seginterp.data.sources.base import (
    DatasetError,
    DownloadOptions,
    Pair,
    Reject,
    pair_images_masks,
    place_unpacked,
)

log = logging.getLogger(__name__)

IMAGE_DIR_GLOB = "HAM10000_images*"
MASK_DIR = "HAM10000_segmentations_lesion_tschandl"
MASK_SUFFIX = "_segmentation"
METADATA = "HAM10000_metadata.csv"


@dataclass(frozen=True)
class HamFile:
    """One file of the HAM10000 download."""

    name: str  # file name in downloads/ (and raw/ for non-zips)
    url: str | None = None
    sha256: str | None = None  # null = not verified (the hash is logged so it can be pinned)
    archive: str | None = None  # path to this file already on disk

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name or self.name.startswith("."):
            raise ParamsError(f"ham10000 file name must be a plain file name, got {self.name!r}")
        if self.url is None and self.archive is None:
            raise ParamsError(f"ham10000 file {self.name!r}: set its url or its archive")


@dataclass(frozen=True)
class Ham10000Params:
    """``<D>.download`` of the HAM10000 source."""

    source: str = "ham10000"
    files: tuple[HamFile, ...] = ()

    def __post_init__(self) -> None:
        if not self.files:
            raise ParamsError("ham10000 download.files is empty; list the image/mask zips + CSV")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ParamsError(f"ham10000 download.files has duplicate names: {names}")


def download(cfg: Ham10000Params, out_dir: Path, opts: DownloadOptions) -> None:
    """Fetch each of ``cfg.files`` into the downloads folder; unpack or copy it into ``out_dir``.

    A refused zip (unsafe, corrupt) is set aside in the downloads folder, never reused."""
    for i, f in enumerate(cfg.files):
        hint = f"{opts.where}.files[{i}].archive"
        path = opts.fetch(f.url or "", f.name, f.sha256, f.archive, hint)
        if f.name.lower().endswith(".zip"):
            stem = f.name[: -len(".zip")]
            staging = out_dir / f".unpack-{stem}"
            opts.unpack(path, staging)
            place_unpacked(staging, out_dir / stem)
            log.info("unpacked %s into %s", path, out_dir / stem)
        else:
            shutil.copyfile(path, out_dir / f.name)
            log.info("copied %s into %s", path, out_dir)


def watched(cfg: Ham10000Params) -> list[Path]:
    """The local archives whose sha256 is not pinned (a pinned one cannot change unseen)."""
    return [Path(f.archive).expanduser() for f in cfg.files if f.archive and not f.sha256]


def read_groups(csv_path: Path) -> dict[str, str]:
    """image_id -> lesion_id from the HAM10000 metadata CSV (columns read by name)."""
    if not csv_path.is_file():
        raise DatasetError(f"HAM10000 metadata {csv_path} not found (list it in download.files)")
    df = pd.read_csv(csv_path, dtype=str)
    missing = {"lesion_id", "image_id"} - set(df.columns)
    if missing:
        raise DatasetError(
            f"{csv_path} lacks column(s) {sorted(missing)}; columns: {list(df.columns)}"
        )
    return dict(zip(df["image_id"].str.strip(), df["lesion_id"].str.strip(), strict=True))


def scan(raw_dir: Path, cfg: Ham10000Params | None = None) -> tuple[list[Pair], list[Reject]]:
    """Pairs ``HAM10000_images*/<id>.jpg`` with ``<MASK_DIR>/<id>_segmentation.png``.

    group = lesion_id; an image missing from the metadata is its own group (logged).
    """
    raw_dir = Path(raw_dir)
    image_dirs = sorted(p for p in raw_dir.glob(IMAGE_DIR_GLOB) if p.is_dir())
    if not image_dirs:
        raise DatasetError(f"no {IMAGE_DIR_GLOB} folder in {raw_dir}")
    groups = read_groups(raw_dir / METADATA)
    unknown: list[str] = []

    def group_of(image_id: str) -> str:
        g = groups.get(image_id)
        if g is None:
            unknown.append(image_id)
            return image_id
        return g

    pairs, rejects = pair_images_masks(
        raw_dir, image_dirs, raw_dir / MASK_DIR, mask_suffixes=(MASK_SUFFIX,), group_of=group_of
    )
    if unknown:
        log.warning(
            "%d image(s) not in %s, each used as its own group: %s",
            len(unknown),
            METADATA,
            ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""),
        )
    return pairs, rejects
