"""Localisation against the ground truth: relevance mass and top-k intersection on the true and
the predicted border band."""

from __future__ import annotations

import numpy as np
import pytest

from seginterp.evaluate.localisation import localisation, localisation_rows
from seginterp.explain.borders import border_pixels
from seginterp.explain.store import MapKey


def _disc(cy: int, cx: int, r: int, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_a_map_on_the_band_has_all_its_mass_and_top_k_there() -> None:
    band = border_pixels(_disc(16, 16, 8))
    attr = np.where(band, -2.0, 0.0)[None].repeat(3, 0)  # (C, H, W), negative: |Φ| counts
    out = localisation(attr, {"truth": band})
    assert out == {"mass_truth": 1.0, "top_k_truth": 1.0}


def test_mass_and_top_k_against_a_brute_force_count() -> None:
    rng = np.random.default_rng(0)
    attr = rng.normal(size=(32, 32))
    band = rng.random((32, 32)) < 0.2
    out = localisation(attr, {"b": band})
    a = np.abs(attr)
    assert out["mass_b"] == pytest.approx(a[band].sum() / a.sum())
    k = int(band.sum())
    threshold = np.sort(a.ravel())[::-1][k - 1]  # distinct values: the k largest are >= it
    assert out["top_k_b"] == pytest.approx(band[a >= threshold].sum() / k)


def test_a_wrong_prediction_tells_the_true_band_from_the_predicted_one() -> None:
    """The prediction is shifted 6 px; a map on the predicted border scores on the predicted
    band only, and the bands overlap partly."""
    truth, pred = _disc(16, 16, 8), _disc(16, 22, 8)
    border = border_pixels(pred)
    maps = {MapKey("saliency"): np.where(border, 1.0, 0.0)[None].repeat(3, 0)}
    (row,) = localisation_rows("a", 0, maps, {MapKey("saliency"): "one-pass"}, truth, pred,
                               border, band_width=1)  # fmt: skip
    assert row["mass_pred"] == 1.0 and row["top_k_pred"] < 1.0  # k: the band, wider than B
    assert row["mass_truth"] < 0.5 and row["top_k_truth"] < 0.5
    assert 0.0 < row["band_overlap"] < 1.0
    (same,) = localisation_rows("a", 0, maps, {MapKey("saliency"): "one-pass"}, pred, pred,
                                border, band_width=1)  # fmt: skip
    assert same["band_overlap"] == 1.0 and same["mass_truth"] == same["mass_pred"]


def test_an_empty_truth_and_a_zero_map_give_nulls() -> None:
    empty = np.zeros((32, 32), dtype=bool)
    out = localisation(np.zeros((32, 32)), {"truth": empty})
    assert out == {"mass_truth": None, "top_k_truth": None}
    with pytest.raises(ValueError, match="does not match the map"):
        localisation(np.ones((8, 8)), {"truth": empty})
