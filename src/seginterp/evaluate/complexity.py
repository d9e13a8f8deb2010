"""How concentrated a map is (the complexity family of Quantus).

Metric ``complexity`` (every scored image), per map (model maps summed over channels, as in
:mod:`seginterp.evaluate.regions`), of ``|Φ|`` over the ``n`` pixels:

- ``sparseness``: the Gini index of ``|Φ|`` (Chalasani et al.), ``Σ_i (2i − n − 1) v_i / (n Σ v)``
  with ``v`` sorted ascending: 0 when every pixel holds the same mass, ``1 − 1/n`` when one pixel
  holds it all;
- ``entropy``: the Shannon entropy of ``|Φ| / Σ|Φ|`` in nats (Bhatt et al.'s complexity):
  ``log n`` for a uniform map, 0 for one pixel.

Both are null for an all-zero map. A small, concentrated map scores high sparseness and low
entropy; neither says whether the pixels it marks are the right ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from seginterp.evaluate.measure import MeasureContext, Metric
from seginterp.evaluate.regions import map_columns, to_2d

COLUMNS: tuple[str, ...] = ("sparseness", "entropy")


def complexity(attr: np.ndarray) -> dict[str, float | None]:
    """``sparseness`` and ``entropy`` of one map (C, H, W) or (H, W) (module doc)."""
    v = np.sort(np.abs(to_2d(attr)).ravel())
    total, n = float(v.sum()), v.size
    if total <= 0:
        return dict.fromkeys(COLUMNS)
    gini = float(((2 * np.arange(1, n + 1) - n - 1) * v).sum() / (n * total))
    p = v[v > 0] / total
    return {"sparseness": gini, "entropy": float(-(p * np.log(p)).sum())}


def complexity_rows(
    image_id: str, index: int, maps: Mapping[Any, np.ndarray], modes: Mapping[Any, str]
) -> list[dict[str, Any]]:
    """The complexity rows of one image, one per map of ``maps`` (key -> map)."""
    return [
        {**map_columns(image_id, index, key, modes[key]), **complexity(attr)}
        for key, attr in maps.items()
    ]


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    return complexity_rows(c.ref.id, c.ref.index, c.stored.maps, c.stored.modes)


METRIC = Metric("complexity", _rows, sharded=True)
"""The complexity table: every stored map of every scored image (no model pass)."""
