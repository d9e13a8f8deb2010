"""The region statistics of regions.json: where the trained model's maps put their mass.

Rows (section ``regions``; ``level`` ``model`` with ``method``, or ``layer`` with ``method`` and
``layer``), per map, over the images of the regions table (:mod:`seginterp.evaluate.regions`):

- ``{region}_{q}`` (``region`` in band, inside, outside; ``q`` in pos_share, neg_share,
  abs_share, net_share, enrichment, area_share): ``mean`` over the images where it is defined;
- ``coverage_90``, ``native_abs_mass`` (layer maps), ``f_x``, ``f_x0`` and ``delta_f`` (the
  function the map explains at the image and at its baseline, and the change ``Δf``): ``mean``,
  when some image has it; the point ``n_delta_f_negative`` (images with ``Δf < 0``);
- point rows: ``n`` (images of the map), ``{region}_n_positive`` / ``{region}_n_negative``
  (images with net mass > 0 / < 0 in the region) and ``n_claim`` (band net > 0 and inside
  net < 0).

Per layer method (``level="layer"``, ``layer`` null), the per-image Spearman ρ of band
``abs_share`` vs encoder depth (:func:`seginterp.evaluate.regions.depth_rhos`): ``depth_rho``
``mean`` and the point rows ``depth_rho_n_positive`` (images with ρ > 0) and ``depth_rho_n``
(images with a ρ); no rows when fewer than 3 encoder layers were explained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seginterp.evaluate.regions import REGIONS, SHARES, depth_rhos
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point

SECTION = "regions"


def block_rows(key: Key, df: pd.DataFrame, n_boot: int, seed: int) -> list[Row]:
    """The rows of one map (``key``: its level, method, layer) from its per-image rows ``df``."""
    out = [point(key.but(quantity="n"), len(df))]
    for r in REGIONS:
        for q in (*SHARES, "area_share"):
            col = df[f"{r}_{q}"].dropna().to_numpy(dtype=np.float64)
            out.append(estimate(key.but(quantity=f"{r}_{q}"), col, "mean", n_boot, seed))
        net = df[f"{r}_net"]
        out.append(point(key.but(quantity=f"{r}_n_positive"), int((net > 0).sum())))
        out.append(point(key.but(quantity=f"{r}_n_negative"), int((net < 0).sum())))
    out.append(point(key.but(quantity="n_claim"), int(df["claim"].sum())))
    if "delta_f" in df and df["delta_f"].notna().any():
        out.append(point(key.but(quantity="n_delta_f_negative"), int((df["delta_f"] < 0).sum())))
    for col in ("coverage_90", "native_abs_mass", "f_x", "f_x0", "delta_f"):
        if col in df and df[col].notna().any():
            values = df[col].dropna().to_numpy(dtype=np.float64)
            out.append(estimate(key.but(quantity=col), values, "mean", n_boot, seed))
    return out


def rows(m: Measured) -> list[Row]:
    """Every region estimate of the trained model's maps (module doc), model maps first (in
    table order), then per layer method its layers (network order) and its depth trend."""
    df, n_boot, seed = m.regions, m.cfg.bootstrap, m.cfg.seed
    if not len(df):
        return []
    out: list[Row] = []
    model = df[df["level"] == "model"]
    for method in dict.fromkeys(model["method"]):
        key = Key(SECTION, level="model", method=method)
        out += block_rows(key, model[model["method"] == method], n_boot, seed)
    layer = df[df["level"] == "layer"]
    for method in dict.fromkeys(layer["method"]):
        sub = layer[layer["method"] == method]
        for k in (k for k in m.layer_order if k in set(sub["layer"])):
            key = Key(SECTION, level="layer", method=method, layer=k)
            out += block_rows(key, sub[sub["layer"] == k], n_boot, seed)
        rhos = depth_rhos(sub, m.layer_order)
        if len(rhos):
            key = Key(SECTION, quantity="depth_rho", level="layer", method=method)
            out.append(estimate(key, rhos.to_numpy(), "mean", n_boot, seed))
            out.append(point(key.but(quantity="depth_rho_n_positive"), int((rhos > 0).sum())))
            out.append(point(key.but(quantity="depth_rho_n"), len(rhos)))
    return out
