"""Small per-image tables for the claims, and their way through the results table:
Measured -> results rows -> parquet -> Results -> the claims document."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd

from seginterp.evaluate.claims.document import claim_rows
from seginterp.evaluate.claims.registry import CLAIMS
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.paper import paper_figures
from seginterp.evaluate.regions import REGIONS, SHARES
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results import infidelity, null, regions, segmentation
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Results, Row, frame

EMPTY = pd.DataFrame()
LAYERS = ["encoder1", "encoder2", "encoder3", "bottleneck", "decoder1", "decoder2"]


def measured(frag=EMPTY, seg=None, regions=EMPTY, null=EMPTY, **kw) -> Measured:
    """The per-image tables (``kw``: layer_order, methods, layer_methods)."""
    cfg = EvaluateConfig(infidelity_sigma=(0.03,), bootstrap=200)
    kw = {"layer_order": ["encoder1", "decoder5"], **kw}
    return Measured(frag, EMPTY, regions, null, EMPTY, seg, cfg=cfg, **kw)


def _complete(df: pd.DataFrame, columns: dict[str, object]) -> pd.DataFrame:
    """``df`` with the ``columns`` it lacks (name -> value), so the section builders run."""
    return df.assign(**{c: v for c, v in columns.items() if c not in df}) if len(df) else df


def read_rows(m: Measured) -> list[Row]:
    """The sections the claims read besides their own rows: segmentation, infidelity, regions
    (the toy tables completed with the columns those builders need), the null."""
    frag = _complete(m.frag, {"map_l2": 1.0, "proj_rms_ratio": 1.0, "function_mismatch": False,
                             "convention": "input"})  # fmt: skip
    region = {f"{r}_{q}": np.nan for r in REGIONS for q in (*SHARES, "area_share")}
    region |= {f"{r}_net": 0.0 for r in REGIONS} | {"claim": False}
    done = replace(m, frag=frag, regions=_complete(m.regions, region))
    return segmentation.rows(m) + infidelity.rows(done) + regions.rows(done) + null.rows(m)


def results_rows(m: Measured) -> list[Row]:
    """The parts of the results table the claims read (:func:`read_rows`) and the claims."""
    return read_rows(m) + claim_rows(m)


def results(m: Measured, rows: list[Row] | None = None) -> Results:
    """``rows`` (default: :func:`results_rows`) through a parquet round trip."""
    buf = io.BytesIO()
    frame(results_rows(m) if rows is None else rows).to_parquet(buf, index=False)
    return Results(pd.read_parquet(io.BytesIO(buf.getvalue())))


def context(m: Measured, dataset: str = "synthetic", n_evaluated: int = 10) -> Context:
    counts = {"n_evaluated": n_evaluated}
    return Context(dataset, paper_figures(dataset), m.cfg, counts, m.layer_order, {},
                   m.methods, m.layer_methods)  # fmt: skip


def judged(name: str, m: Measured, method: str | None = None, dataset: str = "synthetic") -> dict:
    """The row of the registered claim ``name`` (on ``method``) judged on ``m`` (its own rows and
    those of the sections it reads)."""
    spec, ctx = CLAIMS.get(name), context(m, dataset)
    return spec.row(ctx.paper, method, spec.verdict(claim_results(name, m, method), ctx, method))


def claim_results(name: str, m: Measured, method: str | None = None) -> Results:
    """The results table of one claim on ``method``: its rows and those of the sections it
    reads (:func:`read_rows`)."""
    rows = read_rows(m) + CLAIMS.get(name).tests(m, method)
    return results(m, rows)


def frag_rows(n: int = 10) -> pd.DataFrame:
    """GGC tiny (skill 0), DeepLIFT skill 0.1, GBP skill −0.3; the sampled ones on their own
    function."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        zero = rng.uniform(1, 2)
        for method, skill, mode in (
            ("guided_gradcam", 0.0, "sampled(8)"),
            ("deeplift", 0.1, "one-pass"),
            ("guided_backprop", -0.3, "sampled(8)"),
        ):
            z = zero * (1.2 if mode != "one-pass" else 1.0)
            s = skill + rng.normal(0, 0.01)
            rows.append(
                {
                    "id": f"i{i}",
                    "sigma": 0.03,
                    "normalize": False,
                    "level": "model",
                    "method": method,
                    "layer": None,
                    "mode": mode,
                    "scored_function": "border_mean" if mode == "one-pass" else "sample(8)",
                    "infidelity": z * (1 - s),
                    "zero": z,
                    "skill": s,
                }
            )
    return pd.DataFrame(rows)


def model_rows(
    n: int, method: str, band: float, weights: str | None = None, delta_f: float = 1.0
) -> list[dict]:
    """Model-level region rows: band share ``band`` (± noise), inside net share −0.2, the
    explained change ``delta_f``."""
    rng = np.random.default_rng(len(method))
    rows = []
    for i in range(n):
        b = band + rng.normal(0, 0.01)
        row = {
            "id": f"i{i}",
            "level": "model",
            "method": method,
            "layer": None,
            "mode": "one-pass",
            "band_abs_share": b,
            "band_net_share": b - 0.05,
            "inside_net_share": -0.2 + rng.normal(0, 0.01),
            "claim": True,
            "coverage_90": 0.3 if method == "deeplift" else 0.1 + rng.normal(0, 0.01),
            "delta_f": delta_f,
        }
        if weights:
            row["weights"] = weights
        rows.append(row)
    return rows


def null_rows(n: int, trained: float, randomized: float) -> pd.DataFrame:
    """DeepLIFT's null rows: band share ``trained`` and ``randomized``."""
    return pd.DataFrame(
        model_rows(n, "deeplift", trained, "trained")
        + model_rows(n, "deeplift", randomized, "randomized")
    )


def layer_rows(n: int, weights: str, trend: float, peak: str = "decoder2") -> list[dict]:
    """Layer Grad-CAM rows: band share rising by ``trend`` per layer, Σ|L| peaking at ``peak``."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        for d, k in enumerate(LAYERS):
            rows.append(
                {
                    "id": f"i{i}",
                    "level": "layer",
                    "method": "gradcam",
                    "layer": k,
                    "mode": "one-pass",
                    "weights": weights,
                    "band_abs_share": 0.2 + trend * d + rng.normal(0, 0.005),
                    "native_abs_mass": (5.0 if k == peak else 1.0) + rng.normal(0, 0.01),
                }
            )
    return rows
