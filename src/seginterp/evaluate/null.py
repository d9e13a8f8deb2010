"""The randomized-weights null: the same maps from a model that learned nothing.

:func:`randomized_pairs` explains each stored map's function with the re-initialized model
(:func:`seginterp.evaluate.sanity.randomize_weights`) and pairs it with the trained model's map
of the same function. The sanity check correlates the two (model-level methods); the region
analysis runs on both (:func:`seginterp.evaluate.regions.null_region_rows`), and
:func:`aggregate_null` tests per map whether the trained model puts more of its mass on the
border band than the randomized one — what the map's support alone would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import Tensor

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.regions import depth_rhos
from seginterp.evaluate.stats import paired_one, summary
from seginterp.explain.store import ImageMaps, MapKey

if TYPE_CHECKING:
    from seginterp.explain.engine import Explainer


@dataclass(frozen=True)
class MapPair:
    """One map of one image from both models: model level (C, H, W), layer level (H, W)
    upsampled; ``function`` labels the function both explain."""

    key: MapKey
    mode: str
    function: str
    trained: np.ndarray
    randomized: np.ndarray


def randomized_pairs(
    trained: Explainer,
    randomized: Explainer,
    x: Tensor,
    image_id: str,
    stored: ImageMaps,
    keys: Sequence[MapKey],
    cfg: EvaluateConfig,
) -> list[MapPair]:
    """The trained and randomized maps of ``keys`` for one image.

    Each map re-explains the stored map's function
    (:func:`~seginterp.evaluate.functions.recompute_function`); the trained map is the stored one,
    or re-computed too when its pixels were reduced (``cfg.recompute_max_pixels``).

    Args:
        trained, randomized: explainers of the trained and the re-initialized model.
        x: (1, C, H, W) the image in [0, 1].
        stored: the image's stored maps.
        keys: the maps to pair (those absent from ``stored`` are skipped).
    """
    from seginterp.evaluate.functions import recompute_function

    pairs = []
    for key in keys:
        if key not in stored.maps:
            continue
        mode = stored.modes[key]
        function, reduced = recompute_function(
            mode, stored, image_id, cfg.recompute_max_pixels, cfg.seed
        )

        def explain(ex: Explainer, key: MapKey = key, pixels: Any = function.pixels) -> np.ndarray:
            m = ex.map(key.method, x, pixels, layer=key.layer)[0].cpu().numpy()
            return m if key.layer is None else m[0]

        ref = explain(trained) if reduced else stored.maps[key]
        pairs.append(MapPair(key, mode, function.label, ref, explain(randomized)))
    return pairs


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
