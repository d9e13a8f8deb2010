"""Model-randomization sanity check (Adebayo et al. 2018).

A map that explains the model should change when the model's weights are replaced by random ones.
For each method and image we compare the map of the trained model with the map of the same
architecture re-initialized (every module's own ``reset_parameters``, seeded; BatchNorm running
statistics reset too), explaining the same function (mean logit over the trained model's frozen
border). Spearman rank correlation over pixels of the channel-summed maps, signed and of absolute
values (Adebayo et al. report both, since randomization can flip signs). High correlation: the
method is insensitive to the model (it behaves like an edge detector of the input). The maps of
both models come from :func:`seginterp.evaluate.randomized.randomized_pairs`. The means over
images are in :mod:`seginterp.evaluate.results.sanity`; each method's verdict
(:func:`seginterp.evaluate.render.sanity.sanity_verdict`) says "too few images" below 3 images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import spearmanr

from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.regions import to_2d

if TYPE_CHECKING:
    from seginterp.evaluate.randomized import MapPair

SANITY_COLUMNS: tuple[str, ...] = (
    "id",
    "index",
    "method",
    "mode",
    "function",
    "spearman",
    "spearman_abs",
)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    """Spearman ρ over pixels between two maps ((C, H, W) are summed over channels).

    Returns ``{spearman, spearman_abs}``; null where a map is constant (ρ undefined).
    """
    x, y = to_2d(a).ravel(), to_2d(b).ravel()
    if x.shape != y.shape:
        raise ValueError(f"maps differ in size: {x.shape} vs {y.shape}")

    def rho(u: np.ndarray, v: np.ndarray) -> float | None:
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            return None
        return float(spearmanr(u, v).statistic)

    return {"spearman": rho(x, y), "spearman_abs": rho(np.abs(x), np.abs(y))}


def sanity_rows(image_id: str, index: int, pairs: Sequence[MapPair]) -> list[dict[str, Any]]:
    """The sanity table rows of one image: one per model-level map pair
    (:func:`seginterp.evaluate.randomized.randomized_pairs`), with :func:`rank_correlation`."""
    return [
        {
            "id": image_id,
            "index": index,
            "method": p.key.method,
            "mode": p.mode,
            "function": p.function,
            **rank_correlation(p.trained, p.randomized),
        }
        for p in pairs
        if p.key.layer is None
    ]


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    return sanity_rows(c.ref.id, c.ref.index, c.pairs(c.model_keys()))


METRIC = Metric("sanity", _rows, lambda n, cfg: choose_images(n, cfg.sanity_images), SANITY_COLUMNS)
"""The sanity table: the model-level maps on ``sanity_images`` images."""
