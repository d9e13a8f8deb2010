"""The predictions directory: the one owner of its file names and columns.

``probs.npy`` float32 (N, S, S) sigmoid(z); ``masks.npy`` uint8 (N, S, S) probs > threshold;
``per_image.parquet`` (id, index, iou, dice, pred_area, true_area), one row per test image.
Light on purpose (NumPy, pandas): the borders stage reads it without importing torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seginterp.core.io import write_npy, write_parquet

PROBS = "probs.npy"
MASKS = "masks.npy"
TABLE = "per_image.parquet"


def write_predictions(out: Path, probs: np.ndarray, masks: np.ndarray, table: pd.DataFrame) -> None:
    """Write the three files into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    write_npy(out / PROBS, probs)
    write_npy(out / MASKS, masks)
    write_parquet(out / TABLE, table)


def read_masks(predictions: Path) -> np.ndarray:
    """The predicted masks, uint8 (N, S, S), memory-mapped."""
    return np.load(Path(predictions) / MASKS, mmap_mode="r")


def read_table(predictions: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The per-image table (optionally only ``columns``)."""
    return pd.read_parquet(Path(predictions) / TABLE, columns=columns)
