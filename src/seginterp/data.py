"""Preprocessing (decode, binarize, resize), seeded group-aware splits, prepared-array loaders.

``data/<D>/prepared`` (the contract the training code reads)::

    {split}_images.npy   uint8 (N, S, S, 3) RGB          split in train / val / test
    {split}_masks.npy    uint8 (N, S, S) in {0, 1}
    manifest.parquet     id, split, index (row in that split's arrays), image_path, mask_path
                         (relative to raw/), orig_height, orig_width, group
    rejects.csv          file, reason (files found but not used; header even when empty)
    meta.json            image_size, counts, mean_rgb (train, in [0, 1]), n_found, n_rejected

Every item found in raw/ is either accepted or listed in rejects.csv: ``sum(counts) + unused +
n_rejected == n_found``, where ``unused`` is non-zero only when the split gives image counts
that sum to less than the accepted images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from seginterp.datasets.base import DatasetError, Pair, Reject, rel
from seginterp.io import atomic_path, read_json, write_json, write_npy, write_parquet
from seginterp.params import ParamsError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = (
    "id",
    "split",
    "index",
    "image_path",
    "mask_path",
    "orig_height",
    "orig_width",
    "group",
)
MASK_THRESHOLD = 128  # gray value at or above which a mask pixel is foreground

# What PIL raises on a file it cannot decode (UnidentifiedImageError is an OSError; a truncated
# JPEG raises OSError on load; some malformed headers raise SyntaxError / ValueError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class PreprocessParams:
    """``<D>.preprocess``: square side, split (image counts or fractions), split seed."""

    image_size: int
    split: dict[str, Any] = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ParamsError(f"preprocess.image_size must be >= 8 px, got {self.image_size}")
        check_split_spec(self.split)


# ---------------------------------------------------------------------------------------------
# Decoding and resizing
# ---------------------------------------------------------------------------------------------


class PairError(Exception):
    """A pair that cannot be used; ``file`` (the culprit) and ``reason`` go to rejects.csv."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = Path(file), reason


def read_image(path: Path, draft_size: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an image as RGB; returns (array (h, w, 3) uint8, original (height, width)).

    With ``draft_size`` a JPEG is decoded at the smallest power-of-two reduction that keeps both
    sides >= ``draft_size`` (libjpeg DCT scaling: much faster for big files); the array is then
    smaller than the original size returned.
    """
    with Image.open(path) as im:
        w, h = im.size
        if draft_size is not None and im.format == "JPEG":
            im.draft("RGB", (draft_size, draft_size))
        rgb = im.convert("RGB")  # decodes: raises on truncated / corrupt data
    return np.asarray(rgb), (h, w)


def binarize_mask(im: Image.Image) -> np.ndarray:
    """A decoded mask as (H, W) uint8 in {0, 1}.

    Palette images are mapped through their palette first (``convert("L")``: HAM10000 has
    inverted palettes, so raw indices would invert the mask); RGB masks use the gray value. The
    gray value is thresholded at 128 (robust to JPEG noise, e.g. Kvasir-SEG). A lossless mask
    holding only 0 and 1 is taken as it is (0/1 label images are common in users' folders).
    """
    if im.mode in ("I", "F") or im.mode.startswith("I;"):  # 16/32-bit gray
        arr = np.asarray(im)
        top = float(arr.max())
        return (arr >= (1 if top <= 1 else 128 if top <= 255 else 32768)).astype(np.uint8)
    gray = np.asarray(im.convert("L"))
    if im.format != "JPEG" and gray.max() <= 1:
        return gray.astype(np.uint8, copy=True)
    return (gray >= MASK_THRESHOLD).astype(np.uint8)


def read_mask(path: Path) -> np.ndarray:
    """Decode and binarize a mask file at full resolution: (H, W) uint8 in {0, 1}."""
    with Image.open(path) as im:
        if im.format == "JPEG" and im.mode in ("RGB", "YCbCr"):
            im.draft("L", im.size)  # decode the luma plane only, at full size
        im.load()
        return binarize_mask(im)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (size, size, 3): area interpolation when shrinking, else bilinear."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(h, w) {0, 1} uint8 -> (size, size) with nearest neighbour (values stay in {0, 1})."""
    if mask.shape == (size, size):
        return np.ascontiguousarray(mask)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)


def load_pair(
    image_path: Path, mask_path: Path, size: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Decode, check and resize one pair: (image (S, S, 3), mask (S, S), original (h, w)).

    Raises :class:`PairError` naming the culprit file when either file cannot be decoded or
    the two differ in size.
    """
    try:
        with Image.open(mask_path) as m:
            mw, mh = m.size
    except _DECODE_ERRORS as e:
        raise PairError(mask_path, f"cannot read mask: {e}") from e
    try:
        with Image.open(image_path) as im:
            iw, ih = im.size
    except _DECODE_ERRORS as e:
        raise PairError(image_path, f"cannot read image: {e}") from e
    if (ih, iw) != (mh, mw):
        raise PairError(
            image_path, f"image is {iw}x{ih} but its mask {mask_path.name} is {mw}x{mh} (WxH)"
        )
    try:
        image, orig = read_image(image_path, draft_size=size)
    except _DECODE_ERRORS as e:
        raise PairError(image_path, f"cannot decode image: {e}") from e
    try:
        mask = read_mask(mask_path)
    except _DECODE_ERRORS as e:
        raise PairError(mask_path, f"cannot decode mask: {e}") from e
    return resize_image(image, size), resize_mask(mask, size), orig


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def check_split_spec(spec: Mapping[str, Any]) -> str:
    """Validate a split spec; return ``"counts"`` (all ints) or ``"fractions"`` (any float)."""
    if not isinstance(spec, Mapping) or set(spec) != set(SPLITS):
        got = sorted(spec) if isinstance(spec, Mapping) else spec
        raise ParamsError(f"preprocess.split must have exactly the keys {SPLITS}; got {got}")
    vals = [spec[s] for s in SPLITS]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in vals):
        raise ParamsError(f"preprocess.split values must be numbers; got {dict(spec)}")
    if any(v < 0 for v in vals):
        raise ParamsError(f"preprocess.split values must be >= 0; got {dict(spec)}")
    if all(isinstance(v, int) for v in vals):
        if spec["train"] < 1:
            raise ParamsError(f"preprocess.split.train must be >= 1; got {dict(spec)}")
        return "counts"
    if abs(sum(vals) - 1.0) > 1e-6:
        raise ParamsError(
            f"preprocess.split fractions must sum to 1 (got {sum(vals):g}: {dict(spec)}); "
            "use integers for image counts"
        )
    if spec["train"] <= 0:
        raise ParamsError(f"preprocess.split.train must be > 0; got {dict(spec)}")
    return "fractions"


def split_targets(spec: Mapping[str, Any], n: int) -> dict[str, int]:
    """Image counts per split for ``n`` accepted images.

    Counts are taken as they are (fewer than ``n`` in total leaves the rest unused; more fails).
    Fractions are turned into counts summing to ``n`` by largest remainder.
    """
    kind = check_split_spec(spec)
    if kind == "counts":
        need = sum(int(spec[s]) for s in SPLITS)
        if need > n:
            raise DatasetError(
                f"the split asks for {need} images ({', '.join(f'{s} {spec[s]}' for s in SPLITS)})"
                f" but only {n} usable images were found; lower the counts in "
                "<dataset>.preprocess.split or use fractions (e.g. 0.8/0.1/0.1)"
            )
        return {s: int(spec[s]) for s in SPLITS}
    exact = np.array([float(spec[s]) * n for s in SPLITS])
    base = np.floor(exact).astype(int)
    rest = n - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")  # largest remainder, ties in SPLITS order
    base[order[:rest]] += 1
    return {s: int(c) for s, c in zip(SPLITS, base, strict=True)}


def assign_splits(groups: Sequence[str], spec: Mapping[str, Any], seed: int) -> list[str | None]:
    """Seeded, group-aware split: the split of every item (None = unused), one group one split.

    Groups are shuffled with ``seed``, then placed largest first (stable), each into the split
    whose target count is furthest from being met. With one item per group this is a plain
    seeded random split with exact counts. With larger groups the counts are targets met as
    closely as this greedy allows (a split may miss by up to about half the largest group).
    When the targets sum to fewer items than there are (counts), a group is left unused
    rather than overshoot a split by more than it fills.
    """
    n = len(groups)
    targets = split_targets(spec, n)
    fill_all = sum(targets.values()) == n
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    names = sorted(members)
    perm = np.random.default_rng(seed).permutation(len(names))
    order = sorted(perm.tolist(), key=lambda j: -len(members[names[j]]))
    deficit = dict(targets)
    out: list[str | None] = [None] * n
    for j in order:
        idx = members[names[j]]
        split = max(SPLITS, key=lambda s: deficit[s])
        if not fill_all and 2 * deficit[split] < len(idx):
            continue
        deficit[split] -= len(idx)
        for i in idx:
            out[i] = split
    return out


# ---------------------------------------------------------------------------------------------
# The preprocess step
# ---------------------------------------------------------------------------------------------


class Decoded(NamedTuple):
    """Decoded pairs, row ``i`` for ``pairs[i]`` (all-zero rows where ``ok`` is False)."""

    images: np.ndarray  # (N, S, S, 3) uint8
    masks: np.ndarray  # (N, S, S) uint8 in {0, 1}
    orig: np.ndarray  # (N, 2) int64: original (height, width)
    ok: np.ndarray  # (N,) bool
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
) -> Decoded:
    """Decode every pair into preallocated arrays; failures become rejects (file relative to raw).

    Threads (PIL and OpenCV release the GIL) each write their own rows, so nothing is held twice.
    """
    n = len(pairs)
    out = Decoded(
        np.zeros((n, size, size, 3), dtype=np.uint8),
        np.zeros((n, size, size), dtype=np.uint8),
        np.zeros((n, 2), dtype=np.int64),
        np.zeros(n, dtype=bool),
        [],
    )

    def work(i: int) -> Reject | None:
        p = pairs[i]
        try:
            image, mask, orig = load_pair(p.image_path, p.mask_path, size)
        except PairError as e:
            return Reject(rel(e.file, raw_dir), e.reason)
        out.images[i], out.masks[i], out.orig[i], out.ok[i] = image, mask, orig, True
        return None

    step = max(1, n // 10)
    with ThreadPoolExecutor(max_workers=workers or _default_workers()) as ex:
        for k, r in enumerate(ex.map(work, range(n)), start=1):
            if r is not None:
                out.rejects.append(r)
            if on_progress and (k % step == 0 or k == n):
                on_progress(k, n)
    return out


def _mean_rgb(images: np.ndarray, chunk: int = 512) -> list[float]:
    """Per-channel mean of (N, S, S, 3) uint8 images, in [0, 1]."""
    total = np.zeros(3, dtype=np.float64)
    for s in range(0, len(images), chunk):
        total += images[s : s + chunk].sum(axis=(0, 1, 2), dtype=np.float64)
    count = images.shape[0] * images.shape[1] * images.shape[2]
    return [float(v) for v in total / (255.0 * count)]


def preprocess(
    pairs: Sequence[Pair],
    rejects: Sequence[Reject],
    raw_dir: Path,
    out_dir: Path,
    cfg: PreprocessParams,
    *,
    workers: int | None = None,
) -> dict[str, Any]:
    """Decode, binarize, resize and split ``pairs``; write the prepared layout into ``out_dir``.

    ``rejects`` are the scan's rejects; decode failures are added. Returns meta.json's content.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = cfg.image_size
    n_found = len(pairs) + len(rejects)
    if not pairs:
        raise DatasetError(
            f"no image/mask pairs found in {raw_dir} ({len(rejects)} file(s) rejected); "
            "check the download stage's output"
        )
    split_targets(cfg.split, len(pairs))  # too few pairs for the split counts: fail before decoding
    log.info("decoding %d pairs to %d px (%d already rejected)", len(pairs), size, len(rejects))
    dec = decode_pairs(
        pairs,
        size,
        raw_dir,
        workers=workers,
        on_progress=lambda k, n: log.info("decoded %d/%d", k, n),
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

    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    mean_rgb: list[float] = []
    for split in SPLITS:
        rows_in = [int(kept[r]) for r, s in enumerate(splits) if s == split]
        idx = np.asarray(sorted(rows_in, key=lambda i: pairs[i].id), dtype=np.intp)
        counts[split] = len(idx)
        images = dec.images[idx]
        write_npy(out_dir / f"{split}_images.npy", images)
        write_npy(out_dir / f"{split}_masks.npy", dec.masks[idx])
        if split == "train":
            mean_rgb = _mean_rgb(images)
        del images
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
    n_unused = sum(s is None for s in splits)
    if n_unused:
        log.warning(
            "%d accepted images are in no split (the split counts sum to %d of %d)",
            n_unused,
            sum(counts.values()),
            kept.size,
        )
    for split in ("val", "test"):
        if counts[split] == 0:
            log.warning("the %s split is empty", split)

    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).astype(
        {"index": "int64", "orig_height": "int64", "orig_width": "int64"}
    )
    write_parquet(out_dir / "manifest.parquet", manifest)
    write_rejects(out_dir / "rejects.csv", all_rejects)
    meta = {
        "image_size": size,
        "counts": counts,
        "mean_rgb": mean_rgb,
        "n_found": n_found,
        "n_rejected": len(all_rejects),
    }
    write_json(out_dir / "meta.json", meta)
    log.info(
        "prepared %d px arrays: found %d, rejected %d, split %s",
        size,
        n_found,
        len(all_rejects),
        ", ".join(f"{s} {counts[s]}" for s in SPLITS),
    )
    return meta


def write_rejects(path: Path, rejects: Sequence[Reject]) -> None:
    """rejects.csv with columns file, reason (header even when empty)."""
    df = pd.DataFrame([tuple(r) for r in rejects], columns=["file", "reason"])
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def read_rejects(path: Path) -> pd.DataFrame:
    """rejects.csv as a DataFrame (file, reason)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------------------------
# Loaders of the prepared layout
# ---------------------------------------------------------------------------------------------


def read_manifest(prepared_dir: Path) -> pd.DataFrame:
    """manifest.parquet of a prepared directory."""
    path = Path(prepared_dir) / "manifest.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the preprocess stage first")
    return pd.read_parquet(path)


def read_meta(prepared_dir: Path) -> dict[str, Any]:
    """meta.json of a prepared directory."""
    path = Path(prepared_dir) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the preprocess stage first")
    return read_json(path)


def load_split(
    prepared_dir: Path, split: str, mmap: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (N, S, S, 3), masks uint8 (N, S, S) in {0, 1}, ids) of one split.

    With ``mmap`` the arrays are read-only memory maps (nothing is loaded until indexed).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    d = Path(prepared_dir)
    mode = "r" if mmap else None
    try:
        images = np.load(d / f"{split}_images.npy", mmap_mode=mode)
        masks = np.load(d / f"{split}_masks.npy", mmap_mode=mode)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e.filename} not found; run the preprocess stage first") from e
    m = read_manifest(d)
    m = m[m["split"] == split].sort_values("index")
    ids = m["id"].astype(str).tolist()
    if not (len(images) == len(masks) == len(ids)):
        raise DatasetError(
            f"{d}: {split} has {len(images)} images, {len(masks)} masks and {len(ids)} manifest "
            "rows; the prepared directory is inconsistent (re-run preprocess)"
        )
    return images, masks, ids


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
