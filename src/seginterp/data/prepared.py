"""The prepared directory ``data/<D>/prepared``: its layout, its writers and its readers.

This module is the one place that knows the layout::

    {split}_images.npy   uint8 (N, S, S, 3) RGB          split in train / val / test
    {split}_masks.npy    uint8 (N, S, S) in {0, 1}
    manifest.parquet     id, split, index (row in that split's arrays), image_path, mask_path
                         (relative to raw/), orig_height, orig_width, group
    rejects.csv          file, reason (files found but not used; header even when empty)
    meta.json            image_size, counts, mean_rgb (train, in [0, 1]), n_found, n_rejected,
                         n_empty_masks, n_full_masks (masks of the splits with no foreground /
                         no background pixel), n_emptied_by_resize (empty ones that had
                         foreground before resizing), mask_rules ({rule: masks it decided})

Every item found in raw/ is either accepted or listed in rejects.csv: ``sum(counts) + unused +
n_rejected == n_found``, where ``unused`` is non-zero only when the split gives image counts
that sum to less than the accepted images.

The preprocess stage writes it (:mod:`seginterp.data.prepare`); train, predict, attribute and
evaluate read it. It depends on ``seginterp.core`` only, so those stages do not depend on the
code that reads raw data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seginterp.core.io import atomic_path, read_json, write_json, write_npy, write_parquet

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.parquet"
REJECTS = "rejects.csv"
META = "meta.json"
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
_INT_COLUMNS = {"index": "int64", "orig_height": "int64", "orig_width": "int64"}
_RUN_PREPROCESS = "run the preprocess stage first"


class PreparedError(ValueError):
    """A prepared directory whose files disagree with each other."""


def images_file(split: str) -> str:
    """File name of a split's images, e.g. ``test_images.npy``."""
    return f"{split}_images.npy"


def masks_file(split: str) -> str:
    """File name of a split's masks, e.g. ``test_masks.npy``."""
    return f"{split}_masks.npy"


# ---------------------------------------------------------------------------------------------
# Writers (the preprocess stage)
# ---------------------------------------------------------------------------------------------


def write_split(out_dir: Path, split: str, images: np.ndarray, masks: np.ndarray) -> None:
    """A split's arrays: images uint8 (N, S, S, 3), masks uint8 (N, S, S) in {0, 1}."""
    write_npy(Path(out_dir) / images_file(split), images)
    write_npy(Path(out_dir) / masks_file(split), masks)


def write_manifest(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """manifest.parquet from one mapping per accepted image (keys: ``MANIFEST_COLUMNS``)."""
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).astype(_INT_COLUMNS)
    write_parquet(Path(out_dir) / MANIFEST, manifest)


def write_rejects(out_dir: Path, rejects: Sequence[tuple[str, str]]) -> None:
    """rejects.csv with columns file, reason (header even when empty)."""
    df = pd.DataFrame([tuple(r) for r in rejects], columns=["file", "reason"])
    with atomic_path(Path(out_dir) / REJECTS) as tmp:
        df.to_csv(tmp, index=False)


def write_meta(
    out_dir: Path,
    *,
    image_size: int,
    counts: Mapping[str, int],
    mean_rgb: Sequence[float],
    n_found: int,
    n_rejected: int,
    n_empty_masks: int,
    n_full_masks: int,
    n_emptied_by_resize: int,
    mask_rules: Mapping[str, int],
) -> dict[str, Any]:
    """meta.json; returns its content."""
    meta = {
        "image_size": image_size,
        "counts": counts,
        "mean_rgb": mean_rgb,
        "n_found": n_found,
        "n_rejected": n_rejected,
        "n_empty_masks": n_empty_masks,
        "n_full_masks": n_full_masks,
        "n_emptied_by_resize": n_emptied_by_resize,
        "mask_rules": dict(mask_rules),
    }
    write_json(Path(out_dir) / META, meta)
    return meta


# ---------------------------------------------------------------------------------------------
# Readers (train, predict, attribute, evaluate)
# ---------------------------------------------------------------------------------------------


def read_manifest(prepared_dir: Path) -> pd.DataFrame:
    """manifest.parquet of a prepared directory."""
    path = Path(prepared_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {_RUN_PREPROCESS}")
    return pd.read_parquet(path)


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
        images = np.load(d / images_file(split), mmap_mode=mode)
        masks = np.load(d / masks_file(split), mmap_mode=mode)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e.filename} not found; {_RUN_PREPROCESS}") from e
    m = read_manifest(d)
    m = m[m["split"] == split].sort_values("index")
    ids = m["id"].astype(str).tolist()
    if not (len(images) == len(masks) == len(ids)):
        raise PreparedError(
            f"{d}: {split} has {len(images)} images, {len(masks)} masks and {len(ids)} manifest "
            "rows; the prepared directory is inconsistent (re-run preprocess)"
        )
    return images, masks, ids


def read_test_images(prepared_dir: Path) -> np.ndarray:
    """The test images, uint8 (N, S, S, 3), as a read-only memory map."""
    return np.load(Path(prepared_dir) / images_file("test"), mmap_mode="r")


def read_test_masks(prepared_dir: Path) -> np.ndarray:
    """The test ground-truth masks, uint8 (N, S, S) {0, 1}, as a read-only memory map."""
    return np.load(Path(prepared_dir) / masks_file("test"), mmap_mode="r")


def read_mean_rgb(prepared_dir: Path) -> list[float] | None:
    """The training images' mean colour in [0, 1] (``meta.json``); None when not recorded."""
    path = Path(prepared_dir) / META
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {_RUN_PREPROCESS}")
    return read_json(path).get("mean_rgb")
