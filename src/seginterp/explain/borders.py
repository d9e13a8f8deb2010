"""Border pixels of a predicted segmentation.

The border ``B`` of a mask ``M`` is the set of pixels of ``M`` that have at least one
4-neighbour (up, down, left, right) *inside the image* that is not in ``M``. Pixels beyond the
image edge are not neighbours: the frame of the image is not an edge of the segment, so a segment
touching the frame has no border along it. Equivalently ``B = M & ~erode(M)`` with a 4-connected
cross and the outside of the image counted as foreground
(``scipy.ndimage.binary_erosion(..., border_value=1)``).

An image whose mask has no border is recorded with a reason rather than dropped:

- ``empty_prediction``: ``M`` is empty;
- ``full_prediction``: ``M`` covers the whole image.

These are the only two ways a mask can have no border (the pixel grid is 4-connected).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seginterp.core.io import write_npy, write_parquet

BorderStatus = Literal["ok", "empty_prediction", "full_prediction"]
#: every value :func:`border_status` can return, in a fixed order (for counts in metrics)
BORDER_STATUSES: tuple[str, ...] = ("ok", "empty_prediction", "full_prediction")


def _as_bool_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be boolean or contain only 0 and 1")
        m = m.astype(bool)
    return m


def border_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour inside the image that is not in ``mask``.

    Args:
        mask: (H, W) bool or {0, 1} array, the predicted segment ``M``.

    Returns:
        (H, W) bool array ``B`` (``B ⊆ M``). The image frame is not a segment edge.
    """
    m = _as_bool_mask(mask)
    # pad with True: a pixel beyond the edge never makes its neighbour a border pixel
    p = np.pad(m, 1, mode="constant", constant_values=True)
    all_in = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~all_in


def border_status(mask: np.ndarray) -> BorderStatus:
    """``ok`` when ``mask`` has a border, else the reason it has none."""
    m = _as_bool_mask(mask)
    if not m.any():
        return "empty_prediction"
    if m.all():
        return "full_prediction"
    return "ok"


def border_summary(n_border: np.ndarray, statuses: list[str]) -> dict[str, object]:
    """Counts for ``metrics/<D>/borders.json``.

    ``mean``/``min``/``max`` are over images that have a border (null when none has one).
    """
    n = np.asarray(n_border, dtype=np.int64)
    if len(n) != len(statuses):
        raise ValueError(f"{len(n)} counts but {len(statuses)} statuses")
    unknown = sorted(set(statuses) - set(BORDER_STATUSES))
    if unknown:
        raise ValueError(f"unknown border status(es) {unknown}; valid: {list(BORDER_STATUSES)}")
    ok = n[np.asarray(statuses) == "ok"] if len(n) else n
    return {
        "mean": float(ok.mean()) if len(ok) else None,
        "min": int(ok.min()) if len(ok) else None,
        "max": int(ok.max()) if len(ok) else None,
        "n_images": len(n),
        "n_without_border": int(len(n) - len(ok)),
        "by_status": {s: int(sum(1 for x in statuses if x == s)) for s in BORDER_STATUSES},
    }


@dataclass(frozen=True)
class Borders:
    """The borders of a set of predicted masks.

    ``masks``: (N, S, S) uint8 {0, 1}, row ``i`` the border of the ``i``-th mask of the table;
    ``table``: id, index, n_border (int64), status; ``summary``: :func:`border_summary`.
    """

    masks: np.ndarray
    table: pd.DataFrame
    summary: dict[str, object]


def find_borders(masks: np.ndarray, table: pd.DataFrame) -> Borders:
    """The border of ``masks[index]`` (N, S, S) for each row (id, index) of ``table``."""
    if len(table) != len(masks):
        raise ValueError(f"{len(table)} table rows but {len(masks)} masks")
    borders = np.zeros(masks.shape, dtype=np.uint8)
    n_border, statuses = [], []
    for i, row in enumerate(table.itertuples(index=False)):
        mask = np.asarray(masks[int(row.index)])
        b = border_pixels(mask)
        borders[i] = b
        n_border.append(int(b.sum()))
        statuses.append(border_status(mask))
    result = pd.DataFrame(
        {
            "id": table["id"].to_numpy(),
            "index": table["index"].to_numpy(),
            "n_border": np.asarray(n_border, dtype=np.int64),
            "status": statuses,
        }
    )
    return Borders(borders, result, border_summary(np.asarray(n_border), statuses))


MASKS = "borders.npy"
TABLE = "borders.parquet"


def write_borders(out: Path, borders: Borders) -> None:
    """``out/borders.npy`` uint8 (N, S, S) {0, 1} and ``out/borders.parquet`` (id, index,
    n_border, status); ``out`` is created if missing."""
    out.mkdir(parents=True, exist_ok=True)
    write_npy(out / MASKS, borders.masks)
    write_parquet(out / TABLE, borders.table)


def read_borders(directory: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """The border masks (N, S, S) uint8, memory-mapped, and their table; lengths checked."""
    masks = np.load(Path(directory) / MASKS, mmap_mode="r")
    table = pd.read_parquet(Path(directory) / TABLE)
    if len(masks) != len(table):
        raise ValueError(f"{directory}: {MASKS} and {TABLE} differ in length; rerun `borders`")
    return masks, table
