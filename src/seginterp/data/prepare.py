"""The preprocess step: decode every pair found in raw/, decide its mask, resize, split, write.

Each mask is decided by a rule of :mod:`seginterp.data.masks` or rejected with the reason.
Empty and full masks are kept (an image without lesion is valid data) but counted in meta.json
and logged. The output is the prepared directory described in :mod:`seginterp.data.prepared`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from seginterp.core.params import ParamsError, StageConfig
from seginterp.data.decode import PairError, load_pair
from seginterp.data.masks import count_masks
from seginterp.data.prepared import (
    SPLITS,
    write_manifest,
    write_meta,
    write_rejects,
    write_split,
)
from seginterp.data.sources.base import DatasetError, Pair, Reject, rel
from seginterp.data.splits import assign_splits, check_split_spec, split_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessParams(StageConfig):
    """``<D>.preprocess``: square side, split (image counts or fractions), split seed, and the
    label values that are foreground (None: each mask decided from its histogram)."""

    section = "preprocess"

    image_size: int
    split: dict[str, Any] = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    seed: int = 0
    mask_foreground: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ParamsError(f"preprocess.image_size must be >= 8 px, got {self.image_size}")
        check_split_spec(self.split)
        fg = self.mask_foreground
        if isinstance(fg, int) and not isinstance(fg, bool):  # `mask_foreground: 1`
            object.__setattr__(self, "mask_foreground", fg := (fg,))
        if fg is not None and (
            not isinstance(fg, tuple)
            or not fg
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in fg)
        ):
            raise ParamsError(
                "preprocess.mask_foreground must be null or a non-empty list of label values "
                f"(integers >= 0, e.g. [1, 2]), got {fg!r}"
            )


class Decoded(NamedTuple):
    """Decoded pairs, row ``i`` for ``pairs[i]`` (all-zero rows where ``ok`` is False)."""

    images: np.ndarray  # (N, S, S, 3) uint8
    masks: np.ndarray  # (N, S, S) uint8 in {0, 1}
    orig: np.ndarray  # (N, 2) int64: original (height, width)
    ok: np.ndarray  # (N,) bool
    orig_foreground: np.ndarray  # (N,) bool: the mask has foreground at its original size
    rules: list[str]  # the rule that decided each mask ("" where ``ok`` is False)
    rejects: list[Reject]  # the pairs that failed, in pair order


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def decode_pairs(
    pairs: Sequence[Pair],
    size: int,
    raw_dir: Path,
    *,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    foreground: Sequence[int] | None = None,
) -> Decoded:
    """Decode every pair into preallocated arrays; failures become rejects (file relative to raw).

    ``foreground``: the mask label values that are foreground (None: decided per mask).

    Threads (PIL and OpenCV release the GIL) each write their own rows, so nothing is held twice.
    """
    n = len(pairs)
    out = Decoded(
        np.zeros((n, size, size, 3), dtype=np.uint8),
        np.zeros((n, size, size), dtype=np.uint8),
        np.zeros((n, 2), dtype=np.int64),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
        [""] * n,
        [],
    )

    def work(i: int) -> Reject | None:
        p = pairs[i]
        try:
            got = load_pair(p.image_path, p.mask_path, size, foreground)
        except PairError as e:
            return Reject(rel(e.file, raw_dir), e.reason)
        out.images[i], out.masks[i], out.orig[i] = got.image, got.mask, got.orig
        out.orig_foreground[i], out.rules[i], out.ok[i] = got.orig_foreground, got.rule, True
        return None

    step = max(1, n // 10)
    with ThreadPoolExecutor(max_workers=workers or _default_workers()) as ex:
        for k, r in enumerate(ex.map(work, range(n)), start=1):
            if r is not None:
                out.rejects.append(r)
            if on_progress and (k % step == 0 or k == n):
                on_progress(k, n)
    return out


def _log_progress(done: int, total: int) -> None:
    log.info("decoded %d/%d", done, total)


def _mean_rgb(images: np.ndarray, chunk: int = 512) -> list[float]:
    """Per-channel mean of (N, S, S, 3) uint8 images, in [0, 1]."""
    total = np.zeros(3, dtype=np.float64)
    for s in range(0, len(images), chunk):
        total += images[s : s + chunk].sum(axis=(0, 1, 2), dtype=np.float64)
    count = images.shape[0] * images.shape[1] * images.shape[2]
    return [float(v) for v in total / (255.0 * count)]


def _manifest_rows(
    pairs: Sequence[Pair], dec: Decoded, idx: np.ndarray, split: str, raw_dir: Path
) -> list[dict[str, Any]]:
    """Manifest rows of one split; ``idx`` are the pair rows in that split's array order."""
    rows = []
    for k, i in enumerate(idx):
        p = pairs[i]
        rows.append(
            {
                "id": p.id,
                "split": split,
                "index": k,
                "image_path": rel(p.image_path, raw_dir),
                "mask_path": rel(p.mask_path, raw_dir),
                "orig_height": int(dec.orig[i, 0]),
                "orig_width": int(dec.orig[i, 1]),
                "group": p.group,
            }
        )
    return rows


def _write_splits(
    out_dir: Path,
    pairs: Sequence[Pair],
    dec: Decoded,
    kept: np.ndarray,
    splits: Sequence[str | None],
    raw_dir: Path,
) -> tuple[list[dict[str, Any]], dict[str, int], list[float]]:
    """Write each split's arrays (rows sorted by id); return (manifest rows, counts, mean_rgb)."""
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    mean_rgb: list[float] = []
    for split in SPLITS:
        rows_in = [int(kept[r]) for r, s in enumerate(splits) if s == split]
        idx = np.asarray(sorted(rows_in, key=lambda i: pairs[i].id), dtype=np.intp)
        counts[split] = len(idx)
        images = dec.images[idx]
        write_split(out_dir, split, images, dec.masks[idx])
        if split == "train":
            mean_rgb = _mean_rgb(images)
        del images
        rows.extend(_manifest_rows(pairs, dec, idx, split, raw_dir))
    return rows, counts, mean_rgb


def _warn_unfilled(splits: Sequence[str | None], counts: dict[str, int], n_kept: int) -> None:
    n_unused = sum(s is None for s in splits)
    if n_unused:
        log.warning(
            "%d accepted images are in no split (the split counts sum to %d of %d)",
            n_unused,
            sum(counts.values()),
            n_kept,
        )
    for split in ("val", "test"):
        if counts[split] == 0:
            log.warning("the %s split is empty", split)


def _mask_stats(
    pairs: Sequence[Pair], dec: Decoded, kept: np.ndarray, splits: Sequence[str | None], size: int
) -> dict[str, Any]:
    """meta.json's mask counts over the masks written to a split (see :func:`count_masks`)."""
    rows = [int(kept[r]) for r, s in enumerate(splits) if s is not None]
    return count_masks(
        dec.masks[rows],
        dec.orig_foreground[rows],
        [dec.rules[i] for i in rows],
        [pairs[i].id for i in rows],
        [s for s in splits if s is not None],
    )


def _decode_and_split(
    pairs: Sequence[Pair],
    rejects: Sequence[Reject],
    raw_dir: Path,
    cfg: PreprocessParams,
    workers: int | None,
) -> tuple[Decoded, list[Reject], np.ndarray, list[str | None]]:
    """Decode and split the pairs: (decoded, all rejects sorted, kept rows, split of each)."""
    n_found = len(pairs) + len(rejects)
    if not pairs:
        raise DatasetError(
            f"no image/mask pairs found in {raw_dir} ({len(rejects)} file(s) rejected); "
            "check the download stage's output"
        )
    split_targets(cfg.split, len(pairs))  # too few pairs for the split counts: fail before decoding
    size = cfg.image_size
    log.info("decoding %d pairs to %d px (%d already rejected)", len(pairs), size, len(rejects))
    dec = decode_pairs(
        pairs,
        size,
        raw_dir,
        workers=workers,
        on_progress=_log_progress,
        foreground=cfg.mask_foreground,
    )
    all_rejects = sorted([*rejects, *dec.rejects])
    for r in all_rejects:
        log.warning("rejected %s: %s", r.file, r.reason)
    kept = np.flatnonzero(dec.ok)  # rows of accepted pairs
    if kept.size == 0:
        raise DatasetError(f"all {n_found} items in {raw_dir} were rejected; see the log above")
    splits = assign_splits([pairs[i].group for i in kept], cfg.split, cfg.seed)
    if "train" not in splits:
        raise DatasetError(
            f"the split {dict(cfg.split)} leaves the train split empty for {kept.size} images"
        )
    return dec, all_rejects, kept, splits


def preprocess(
    pairs: Sequence[Pair],
    rejects: Sequence[Reject],
    raw_dir: Path,
    out_dir: Path,
    cfg: PreprocessParams,
    *,
    workers: int | None = None,
) -> dict[str, Any]:
    """Decode, decide, resize and split ``pairs``; write the prepared layout into ``out_dir``.

    ``rejects`` are the scan's rejects; decode failures are added. Returns meta.json's content.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dec, all_rejects, kept, splits = _decode_and_split(pairs, rejects, raw_dir, cfg, workers)
    rows, counts, mean_rgb = _write_splits(out_dir, pairs, dec, kept, splits, raw_dir)
    _warn_unfilled(splits, counts, kept.size)
    write_manifest(out_dir, rows)
    write_rejects(out_dir, all_rejects)
    n_found = len(pairs) + len(rejects)
    masks = _mask_stats(pairs, dec, kept, splits, cfg.image_size)
    meta = write_meta(
        out_dir,
        image_size=cfg.image_size,
        counts=counts,
        mean_rgb=mean_rgb,
        n_found=n_found,
        n_rejected=len(all_rejects),
        **masks,
    )
    log.info(
        "prepared %d px arrays: found %d, rejected %d, split %s; masks empty %d, full %d",
        cfg.image_size,
        n_found,
        len(all_rejects),
        ", ".join(f"{s} {counts[s]}" for s in SPLITS),
        masks["n_empty_masks"],
        masks["n_full_masks"],
    )
    return meta


def prepare(
    raw_dir: Path,
    out_dir: Path,
    scan: Callable[[Path, Any], tuple[list[Pair], list[Reject]]],
    download_cfg: Any,
    cfg: PreprocessParams,
    *,
    workers: int | None = None,
) -> dict[str, Any]:
    """Scan ``raw_dir`` with a source's ``scan`` and :func:`preprocess` into ``out_dir``."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DatasetError(f"raw folder {raw_dir} not found; run the download stage first")
    pairs, rejects = scan(raw_dir, download_cfg)
    log.info("found %d pairs and %d rejects in %s", len(pairs), len(rejects), raw_dir)
    return preprocess(pairs, rejects, raw_dir, out_dir, cfg, workers=workers)
