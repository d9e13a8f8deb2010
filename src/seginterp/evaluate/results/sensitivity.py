"""The sensitivity rows of the results table, from the per-image sensitivity rows.

Sensitivity (lower = more stable) is the mean over images: ``Key("sensitivity",
quantity="sensitivity", level="model", method=m)`` per model method, and ``level="layer",
method=lm, layer=k`` per layer method and layer (network order). Paired tests (family
``pairwise``, key ``Key("sensitivity", level="model")``): every pair of model methods over the
images they all have, Holm-corrected together.

Points (no interval), so that the document needs nothing but the table:

- ``Key("sensitivity", quantity="n_images")``: the images with a sensitivity row;
- ``Key("sensitivity", quantity="recompute_rel_l2_max")``: the largest relative L2 difference
  between a recomputed and a stored map (null: none recomputed);
- ``Key("sensitivity", quantity="function", level, method, layer, function=f)``, one per map in
  table order: the function ``f`` its first image was explained against (value: the map's
  images).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point, tests
from seginterp.evaluate.stats import PairSpec

SECTION = "sensitivity"


def _aligned(sub: pd.DataFrame, names: Sequence[str], col: str, by: str) -> dict[str, np.ndarray]:
    """name -> per-image ``col`` over the images every name has (same order)."""
    wide = sub.pivot_table(index="id", columns=by, values=col, aggfunc="first")
    wide = wide[[n for n in names if n in wide.columns]].dropna()
    return {n: wide[n].to_numpy(dtype=np.float64) for n in wide.columns}


def _layer(v: object) -> str | None:
    """A layer cell as a key: null for a model map."""
    return None if pd.isna(v) else str(v)


def _points(sens: pd.DataFrame) -> list[Row]:
    """The image count, the recompute check and the function of each map."""
    rel = sens["recompute_rel_l2"].dropna()
    rel_max = float(rel.max()) if len(rel) else None
    out = [
        point(Key(SECTION, quantity="n_images"), float(sens["id"].nunique())),
        point(Key(SECTION, quantity="recompute_rel_l2_max"), rel_max),
    ]
    maps = sens["level"] + "|" + sens["method"] + "|" + sens["layer"].fillna("").astype(str)
    n_rows, first = maps.value_counts(), ~maps.duplicated()
    for r, name in zip(sens[first].itertuples(), maps[first], strict=True):
        key = Key(SECTION, quantity="function", level=str(r.level), method=str(r.method),
                  layer=_layer(r.layer), function=str(r.function))  # fmt: skip
        out.append(point(key, float(n_rows[name])))
    return out


def rows(m: Measured) -> list[Row]:
    """Every sensitivity estimate and test of ``m.sens`` (see the module doc)."""
    sens, cfg = m.sens, m.cfg
    if not len(sens):
        return [point(Key(SECTION, quantity="n_images"), 0.0)]
    out = _points(sens)
    model = sens[sens["level"] == "model"]
    methods = list(dict.fromkeys(model["method"]))
    for meth in methods:
        vals = model.loc[model["method"] == meth, "sensitivity"].to_numpy(dtype=np.float64)
        key = Key(SECTION, quantity="sensitivity", level="model", method=meth)
        out.append(estimate(key, vals, "mean", cfg.bootstrap, cfg.seed))
    layer = sens[sens["level"] == "layer"]
    for lm in dict.fromkeys(layer["method"]):
        per = layer[layer["method"] == lm]
        for k in [k for k in m.layer_order if k in set(per["layer"])]:
            vals = per.loc[per["layer"] == k, "sensitivity"].to_numpy(np.float64)
            key = Key(SECTION, quantity="sensitivity", level="layer", method=lm, layer=k)
            out.append(estimate(key, vals, "mean", cfg.bootstrap, cfg.seed))
    values = _aligned(model, methods, "sensitivity", "method") if len(methods) > 1 else {}
    specs = [
        PairSpec(a, b, values[a], values[b], "sensitivity", True)
        for a, b in combinations(values, 2)
    ]
    return out + tests(Key(SECTION, level="model"), "pairwise", specs, cfg.alpha)
