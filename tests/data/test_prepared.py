"""The prepared directory's writers and readers agree; missing or inconsistent files are errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seginterp.core.io import read_json
from seginterp.data.prepared import (
    MANIFEST_COLUMNS,
    PreparedError,
    load_split,
    read_manifest,
    read_mean_rgb,
    read_test_images,
    write_manifest,
    write_meta,
    write_rejects,
    write_split,
)
from seginterp.data.sources.base import Reject


def _row(i: int, split: str, index: int) -> dict:
    return {
        "id": f"x{i}",
        "split": split,
        "index": index,
        "image_path": f"images/x{i}.png",
        "mask_path": f"masks/x{i}.png",
        "orig_height": 40,
        "orig_width": 50,
        "group": f"x{i}",
    }


def _write(out: Path, n_test: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A tiny prepared directory: 3 train and ``n_test`` test images of 8 px, no val."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    masks = (rng.random((5, 8, 8)) > 0.5).astype(np.uint8)
    write_split(out, "train", images[:3], masks[:3])
    write_split(out, "val", images[:0], masks[:0])
    write_split(out, "test", images[3:], masks[3:])
    rows = [_row(i, "train", i) for i in range(3)] + [_row(3 + k, "test", k) for k in range(2)]
    write_manifest(out, rows[: 3 + n_test])
    write_rejects(out, [])
    write_meta(out, image_size=8, counts={"train": 3, "val": 0, "test": 2},
               mean_rgb=[0.5, 0.4, 0.3], n_found=5, n_rejected=0, n_empty_masks=0,
               n_full_masks=0, n_emptied_by_resize=0, mask_rules={"two values": 5})  # fmt: skip
    return images, masks


def test_written_layout_reads_back(tmp_path: Path) -> None:
    images, masks = _write(tmp_path)
    x, y, ids = load_split(tmp_path, "test")
    assert isinstance(x, np.memmap) and np.array_equal(x, images[3:])
    assert np.array_equal(y, masks[3:]) and ids == ["x3", "x4"]
    assert np.array_equal(read_test_images(tmp_path), images[3:])
    assert read_mean_rgb(tmp_path) == [0.5, 0.4, 0.3]
    m = read_manifest(tmp_path)
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert all(m[c].dtype == np.int64 for c in ("index", "orig_height", "orig_width"))
    assert list(read_json(tmp_path / "meta.json")) == [
        "image_size", "counts", "mean_rgb", "n_found", "n_rejected", "n_empty_masks",
        "n_full_masks", "n_emptied_by_resize", "mask_rules",
    ]  # fmt: skip
    assert (tmp_path / "rejects.csv").read_text().splitlines() == ["file,reason"]
    x, _, ids = load_split(tmp_path, "val", mmap=False)
    assert x.shape == (0, 8, 8, 3) and ids == []


def test_rejects_csv(tmp_path: Path) -> None:
    write_rejects(tmp_path, [Reject("images/a.png", "cannot read image: x, y")])
    df = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    assert df.to_dict("records") == [{"file": "images/a.png", "reason": "cannot read image: x, y"}]


def test_inconsistent_or_missing_files(tmp_path: Path) -> None:
    _write(tmp_path, n_test=1)
    with pytest.raises(PreparedError, match="re-run preprocess"):
        load_split(tmp_path, "test")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_split(tmp_path, "valid")
    empty = tmp_path / "empty"
    empty.mkdir()
    for read in (read_manifest, read_mean_rgb, lambda d: load_split(d, "train")):
        with pytest.raises(FileNotFoundError, match="run the preprocess stage first"):
            read(empty)
