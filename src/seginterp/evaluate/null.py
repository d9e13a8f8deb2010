"""The randomized-weights null of the region analysis: the same maps from a model that learned
nothing.

The pairs of trained and randomized maps come from
:func:`seginterp.evaluate.randomized.randomized_pairs`; the region analysis runs on both
(:func:`seginterp.evaluate.regions.null_region_rows`), and :mod:`seginterp.evaluate.results.null`
tests per map whether the trained model puts more of its mass on the border band than the
randomized one — what the map's support alone would give.
"""

from __future__ import annotations

from typing import Any

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.regions import null_region_rows


def null_images(n: int, cfg: EvaluateConfig) -> list[int]:
    """The positions of the ``null_images`` images among ``n`` scored ones."""
    return choose_images(n, n if cfg.null_images is None else cfg.null_images)


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    pairs = c.pairs(c.model_keys() + c.layer_keys())
    pixels = [p.pixels for p in pairs]
    change = {}
    for weights, ex in (("trained", c.explainer), ("randomized", c.randomized)):
        change |= {(p.key, weights): v for p, v in zip(pairs, c.change(ex, pixels), strict=True)}
    return null_region_rows(c.ref.id, c.ref.index, pairs, c.pred, c.stored.border,
                            c.cfg.band_width, change)  # fmt: skip


METRIC = Metric("regions_null", _rows, null_images)
"""The region null table: every map of the trained and the randomized model on ``null_images``
images."""
