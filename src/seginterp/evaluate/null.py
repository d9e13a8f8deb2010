"""The randomized-weights null of the region analysis: the same maps from a model that learned
nothing.

The pairs of trained and randomized maps come from
:func:`seginterp.evaluate.randomized.randomized_pairs`; the region analysis runs on both
(:func:`seginterp.evaluate.regions.null_region_rows`), and :func:`aggregate_null` tests per map
whether the trained model puts more of its mass on the border band than the randomized one — what
the map's support alone would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.regions import depth_rhos, null_region_rows
from seginterp.evaluate.stats import paired_one, summary


def _band_block(sub: pd.DataFrame, n_boot: int, seed: int, alpha: float) -> dict[str, Any]:
    """Trained vs randomized band ``abs_share`` of one map over the null images."""
    wide = sub.pivot_table(index="id", columns="weights", values="band_abs_share").dropna()
    if not {"trained", "randomized"} <= set(wide.columns):
        return {"n": 0}
    t, r = wide["trained"].to_numpy(), wide["randomized"].to_numpy()
    test = paired_one("trained", "randomized", t, r, "band share of |mass|", alpha)
    return {
        "n": len(wide),
        "trained": summary(t, n_boot, seed),
        "randomized": summary(r, n_boot, seed),
        "test": test,
    }


def aggregate_null(
    df: pd.DataFrame, layer_order: Sequence[str], n_boot: int, seed: int, alpha: float
) -> dict[str, Any]:
    """``regions.json``'s ``null`` section from :func:`null_region_rows` rows.

    Returns ``{n_images, model: {method: band}, layer: {method: {layer: band}},
    encoder_depth_trend: {method: {n, trained, randomized, test}}}``; each band block is
    ``{n, trained, randomized, test}`` (band ``abs_share`` summaries and the paired Wilcoxon of
    trained vs randomized: ``better`` = ``trained`` when the trained model's maps hold
    significantly more of their mass on the band than the null's).
    """
    out: dict[str, Any] = {"n_images": int(df["id"].nunique()) if len(df) else 0}
    out.update(model={}, layer={}, encoder_depth_trend={})
    if not len(df):
        return out
    model = df[df["level"] == "model"]
    for m in dict.fromkeys(model["method"]):
        out["model"][m] = _band_block(model[model["method"] == m], n_boot, seed, alpha)
    layer = df[df["level"] == "layer"]
    for m in dict.fromkeys(layer["method"]):
        sub = layer[layer["method"] == m]
        out["layer"][m] = {
            k: _band_block(sub[sub["layer"] == k], n_boot, seed, alpha)
            for k in layer_order
            if k in set(sub["layer"])
        }
        rho = {
            w: depth_rhos(sub[sub["weights"] == w], layer_order) for w in ("trained", "randomized")
        }
        both = pd.concat(rho, axis=1).dropna()
        if len(both):
            t, r = both["trained"].to_numpy(), both["randomized"].to_numpy()
            test = paired_one("trained", "randomized", t, r, "depth trend rho", alpha)
            out["encoder_depth_trend"][m] = {
                "n": len(both),
                "trained": summary(t, n_boot, seed),
                "randomized": summary(r, n_boot, seed),
                "test": test,
            }
    return out


def _images(n: int, cfg: EvaluateConfig) -> list[int]:
    return choose_images(n, n if cfg.null_images is None else cfg.null_images)


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    pairs = c.pairs(c.model_keys() + c.layer_keys())
    return null_region_rows(c.ref.id, c.ref.index, pairs, c.pred, c.stored.border,
                            c.cfg.band_width)  # fmt: skip


METRIC = Metric("regions_null", _rows, _images)
"""The region null table: every map of the trained and the randomized model on ``null_images``
images."""
