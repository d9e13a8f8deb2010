"""The statistics of sanity.json: trained vs randomized-weights maps, per model-level method.

Rows (section ``sanity``) from the sanity table (:mod:`seginterp.evaluate.sanity`):

- point ``n_images`` (no other key): the images of the sanity check;
- per ``method`` (in table order): ``spearman`` and ``spearman_abs`` ``mean`` over the images
  where ρ is defined (a constant map has none);
- per method and image, in table order, point rows ``spearman`` and ``spearman_abs`` with
  ``name`` = the image id and ``function`` = the function both maps explained (null value: ρ
  undefined). The document's per-image lists and its ``functions`` (per method, the function of
  its last image) are read from these rows.
"""

from __future__ import annotations

import math

import numpy as np

from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point

SECTION = "sanity"
RHOS: tuple[str, str] = ("spearman", "spearman_abs")


def _finite(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def rows(m: Measured) -> list[Row]:
    """Every sanity estimate and per-image value (module doc)."""
    df, n_boot, seed = m.sanity, m.cfg.bootstrap, m.cfg.seed
    out = [point(Key(SECTION, quantity="n_images"), int(df["id"].nunique()) if len(df) else 0)]
    if not len(df):
        return out
    for method in dict.fromkeys(df["method"]):
        sub = df[df["method"] == method]
        for col in RHOS:
            values = sub[col].dropna().to_numpy(dtype=np.float64)
            out.append(estimate(Key(SECTION, col, method=method), values, "mean", n_boot, seed))
        for r in sub.itertuples(index=False):
            at = Key(SECTION, method=method, name=str(r.id), function=str(r.function))
            out += [point(at.but(quantity=col), _finite(getattr(r, col))) for col in RHOS]
    return out
