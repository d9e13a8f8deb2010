"""The statistics of the cascading randomisation (:mod:`seginterp.evaluate.cascade`).

Rows (section ``cascade``): point ``n_images``; per block (``layer``: the block, ``name``: its
step, in cascade order) the point ``params_share``; per model-level method (table order) and
block, the ``mean`` over images of ``spearman``, ``spearman_abs`` and ``ssim`` with bootstrap
intervals (the curve of each method along the cascade).
"""

from __future__ import annotations

import numpy as np

from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point

SECTION = "cascade"
SIMILARITIES: tuple[str, ...] = ("spearman", "spearman_abs", "ssim")


def rows(m: Measured) -> list[Row]:
    """Every cascade estimate (module doc)."""
    df = m.cascade
    out = [point(Key(SECTION, quantity="n_images"), int(df["id"].nunique()) if len(df) else 0)]
    if not len(df):
        return out
    steps = df.drop_duplicates("step").sort_values("step")
    for r in steps.itertuples(index=False):
        out.append(point(Key(SECTION, "params_share", layer=r.block, name=f"step {r.step}"),
                         float(r.params_share)))  # fmt: skip
    for method in dict.fromkeys(df["method"]):
        for r in steps.itertuples(index=False):
            sub = df[(df["method"] == method) & (df["step"] == r.step)]
            at = Key(SECTION, method=method, layer=r.block, name=f"step {r.step}")
            for col in SIMILARITIES:
                values = sub[col].dropna().to_numpy(dtype=np.float64)
                out.append(estimate(at.but(quantity=col), values, "mean", m.cfg.bootstrap,
                                    m.cfg.seed))  # fmt: skip
    return out
