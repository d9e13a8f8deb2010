"""The sign claims under a second baseline: the reference-based maps re-made from another
reference input, on the null images.

A map whose sum is ``Δf = f(x) − f(x₀)`` (DeepLIFT, Integrated Gradients: a method with a
completeness claim, :class:`~seginterp.explain.methods.base.Method`) takes its signs from the
baseline ``x₀``. Its border-sign claim is therefore asked under the configured baseline and under
:data:`OTHER` of it (``mean`` for ``zeros`` and ``blur``, ``zeros`` for ``mean``); when the two
verdicts differ the claim is baseline-dependent (:mod:`seginterp.evaluate.claims.regions`).
Table ``regions_baseline``: the region rows of those maps (``baseline``: the other baseline's
name) with ``f(x)``, ``f(x₀)`` and ``Δf`` under it, on ``null_images`` images.
"""

from __future__ import annotations

from typing import Any

from seginterp.evaluate.functions import recompute_function
from seginterp.evaluate.measure import MeasureContext, Metric
from seginterp.evaluate.regions import (
    change_columns,
    map_columns,
    null_images,
    region_masks,
    region_mass,
)
from seginterp.explain.config import AttributeConfig
from seginterp.explain.registry import METHODS
from seginterp.explain.store import MapKey

OTHER = {"zeros": "mean", "blur": "mean", "mean": "zeros"}
"""The second baseline of each configured one."""


def reference_methods(acfg: AttributeConfig) -> list[str]:
    """The configured model-level methods whose maps sum to Δf from the baseline."""
    return [m for m in acfg.methods if METHODS.get(m).completeness is not None]


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    keys = [MapKey(m) for m in reference_methods(c.acfg) if MapKey(m) in c.stored.maps]
    if not keys:
        return []
    other = OTHER[c.acfg.deeplift_baseline]
    ex = c.with_baseline(other)
    stored, cfg = c.stored, c.cfg
    functions = [recompute_function(stored.modes[k], stored, c.ref.id, cfg.recompute_max_pixels,
                                    cfg.seed)[0] for k in keys]  # fmt: skip
    pixels = [fn.pixels for fn in functions]
    maps = ex.maps(c.x, [(k.method, None, p) for k, p in zip(keys, pixels, strict=True)])
    masks = region_masks(c.pred, stored.border, cfg.band_width)
    change = c.change(ex, pixels)
    return [
        {
            **map_columns(c.ref.id, c.ref.index, k, stored.modes[k]),
            "function": fn.label,
            "baseline": other,
            **region_mass(m[0].cpu().numpy(), masks),
            **change_columns(fx),
        }
        for k, fn, m, fx in zip(keys, functions, maps, change, strict=True)
    ]


METRIC = Metric("regions_baseline", _rows, lambda n, cfg: null_images(n, cfg))
"""The reference-based maps under the other baseline on ``null_images`` images."""
