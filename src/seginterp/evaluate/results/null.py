"""The randomized-weights null of regions.json: trained vs randomized maps of the same functions.

Rows (section ``regions_null``) from the region rows of both models on the null images
(:func:`seginterp.evaluate.regions.null_region_rows`):

- point ``n_images`` (no other key): the null images;
- per map (``level="model"`` with ``method``, or ``level="layer"`` with ``method`` and
  ``layer``): point ``n`` (images with both band shares), ``band_abs_share`` ``mean`` with
  ``weights`` ``trained`` and ``randomized`` and the test family ``band`` (one paired Wilcoxon,
  trained vs randomized, ``what`` = :data:`BAND_WHAT`, higher is better: ``better`` =
  ``trained`` when the trained maps hold significantly more of their mass on the band); a map
  without both models' rows has only ``n`` = 0;
- per layer method (``level="layer"``, ``layer`` null), when some image has both models' depth
  trends (:func:`seginterp.evaluate.regions.depth_rhos`): point ``depth_rho_n``, ``depth_rho``
  ``mean`` per ``weights`` and the test family ``depth_trend`` (``what`` = :data:`DEPTH_WHAT`).

The claims read these tests; nothing else recomputes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seginterp.evaluate.regions import depth_rhos
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point, tests
from seginterp.evaluate.stats import PairSpec

SECTION = "regions_null"
WEIGHTS: tuple[str, str] = ("trained", "randomized")
BAND_WHAT = "band share of |mass|"
DEPTH_WHAT = "depth trend rho"


def _paired(
    key: Key, family: str, what: str, t: np.ndarray, r: np.ndarray, m: Measured
) -> list[Row]:
    """The means of ``key``'s quantity per weights (``t``, ``r``: (n,) trained and randomized
    values, same images) and their trained vs randomized test, a family of one."""
    n_boot, seed = m.cfg.bootstrap, m.cfg.seed
    pairs = zip(WEIGHTS, (t, r), strict=True)
    out = [estimate(key.but(weights=w), v, "mean", n_boot, seed) for w, v in pairs]
    spec = PairSpec("trained", "randomized", t, r, what, lower_is_better=False)
    return out + tests(key, family, [spec], m.cfg.alpha)


def band_rows(key: Key, sub: pd.DataFrame, m: Measured) -> list[Row]:
    """The rows of one map (``key``: level, method, layer) from its null region rows."""
    wide = sub.pivot_table(index="id", columns="weights", values="band_abs_share").dropna()
    if not set(WEIGHTS) <= set(wide.columns):
        return [point(key.but(quantity="n"), 0)]
    t = wide["trained"].to_numpy(dtype=np.float64)
    r = wide["randomized"].to_numpy(dtype=np.float64)
    out = [point(key.but(quantity="n"), len(wide))]
    return out + _paired(key.but(quantity="band_abs_share"), "band", BAND_WHAT, t, r, m)


def depth_rows(key: Key, sub: pd.DataFrame, m: Measured) -> list[Row]:
    """The depth-trend rows of one layer method (none without an image with both trends)."""
    rho = {w: depth_rhos(sub[sub["weights"] == w], m.layer_order) for w in WEIGHTS}
    both = pd.concat(rho, axis=1).dropna()
    if not len(both):
        return []
    t = both["trained"].to_numpy(dtype=np.float64)
    r = both["randomized"].to_numpy(dtype=np.float64)
    out = [point(key.but(quantity="depth_rho_n"), len(both))]
    return out + _paired(key.but(quantity="depth_rho"), "depth_trend", DEPTH_WHAT, t, r, m)


def rows(m: Measured) -> list[Row]:
    """Every null estimate and test (module doc): model maps, then per layer method its layers
    (network order) and its depth trend."""
    df = m.null
    out = [point(Key(SECTION, quantity="n_images"), int(df["id"].nunique()) if len(df) else 0)]
    if not len(df):
        return out
    model = df[df["level"] == "model"]
    for method in dict.fromkeys(model["method"]):
        key = Key(SECTION, level="model", method=method)
        out += band_rows(key, model[model["method"] == method], m)
    layer = df[df["level"] == "layer"]
    for method in dict.fromkeys(layer["method"]):
        sub = layer[layer["method"] == method]
        for k in (k for k in m.layer_order if k in set(sub["layer"])):
            out += band_rows(Key(SECTION, level="layer", method=method, layer=k),
                             sub[sub["layer"] == k], m)  # fmt: skip
        out += depth_rows(Key(SECTION, level="layer", method=method), sub, m)
    return out
