"""Localisation against the ground truth: does a map point at the true boundary?

Metric ``localisation`` (every scored image), per map (model maps summed over channels, as in
:mod:`seginterp.evaluate.regions`), on two bands: the ground-truth border band (the border of the
true mask dilated by ``band_width``, ``truth``) and the predicted border band (``pred``):

- ``mass_<band>``: the relevance mass, the share of ``Σ|Φ|`` inside the band (Arras et al.'s
  Relevance Mass Accuracy on ``|Φ|``); null for an all-zero map;
- ``top_k_<band>``: the top-k intersection, the share of the ``k`` pixels of largest ``|Φ|`` that
  lie in the band, ``k`` = the band's pixel count (Theiner et al.); null for an empty band;
- ``band_overlap``: the share of the true band inside the predicted one (1: the prediction's
  border is where the truth's is).

Where the prediction is wrong the two bands differ, and ``mass_truth`` against ``mass_pred`` says
whether the explanation follows the true boundary or the predicted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from seginterp.evaluate.measure import MeasureContext, Metric
from seginterp.evaluate.regions import map_columns, region_masks, to_2d
from seginterp.explain.borders import border_pixels

BANDS: tuple[str, ...] = ("truth", "pred")
COLUMNS: tuple[str, ...] = (*(f"{q}_{b}" for q in ("mass", "top_k") for b in BANDS),
                            "band_overlap")  # fmt: skip
"""The per-image quantities of a map (module doc)."""


def localisation(attr: np.ndarray, bands: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """``mass_<band>`` and ``top_k_<band>`` of one map (C, H, W) or (H, W) for each (H, W) bool
    band of ``bands`` (module doc)."""
    a = np.abs(to_2d(attr))
    total = float(a.sum())
    order = np.argsort(-a.ravel(), kind="stable")  # largest |Φ| first, ties in pixel order
    out: dict[str, float | None] = {}
    for name, band in bands.items():
        b = np.asarray(band, dtype=bool)
        if b.shape != a.shape:
            raise ValueError(f"band {name} {b.shape} does not match the map {a.shape}")
        k = int(b.sum())
        out[f"mass_{name}"] = float(a[b].sum()) / total if total > 0 else None
        out[f"top_k_{name}"] = float(b.ravel()[order[:k]].mean()) if k else None
    return out


def localisation_rows(
    image_id: str, index: int, maps: Mapping[Any, np.ndarray], modes: Mapping[Any, str],
    truth: np.ndarray, pred: np.ndarray, border: np.ndarray, band_width: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """The localisation rows of one image, one per map of ``maps`` (key -> (C, H, W) or (H, W)).

    Args:
        truth, pred: (H, W) the true and the predicted mask.
        border: (H, W) the predicted border the maps explain.
        band_width: the bands' dilation (``evaluate.band_width``).
    """
    true_band = region_masks(truth, border_pixels(truth), band_width)["band"]
    pred_band = region_masks(pred, border, band_width)["band"]
    bands = {"truth": true_band, "pred": pred_band}
    overlap = float(pred_band[true_band].mean()) if true_band.any() else None
    rows = []
    for key, attr in maps.items():
        row = {**map_columns(image_id, index, key, modes[key]), **localisation(attr, bands)}
        rows.append({**row, "band_overlap": overlap})
    return rows


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    s = c.stored
    truth = np.asarray(c.data.truths[c.ref.index]).astype(bool)
    return localisation_rows(c.ref.id, c.ref.index, s.maps, s.modes, truth, c.pred, s.border,
                             c.cfg.band_width)  # fmt: skip


METRIC = Metric("localisation", _rows, sharded=True)
"""The localisation table: every stored map of every scored image (no model pass)."""
