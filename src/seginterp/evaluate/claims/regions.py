"""The paper's claims about where maps put their mass (Figs 5–9), with the randomized null.

A region pattern is ``held`` only when it is significant on the trained model *and* stronger than
on the randomized-weights model for the same images and functions (:mod:`seginterp.evaluate.null`):
a share the map's support forces (e.g. a 3×3 output convolution confining the last decoder's map
to the border's neighbourhood) shows on the randomized model too. Model-level methods are taken in
their majority mode. Definitions:

- ``border_sign/<method>``: band net share > 0 and inside net share < 0 (one-sample Wilcoxon each,
  Holm over the two); null: the contrast band − inside is larger than the randomized model's.
- ``deeplift_coverage``: ``coverage_90`` (fraction of pixels holding 90 % of ``|map|``) of
  DeepLIFT exceeds every other model-level method's (paired, Holm over the other methods).
- ``depth_focus/<layer method>``: per image Spearman ρ of band share vs encoder depth
  (encoder1 … bottleneck) > 0; null: ρ larger than the randomized model's.
- ``decoder2_peak/<layer method>``: decoder2's share of the summed native ``Σ|L|`` over layers (a
  resolution-independent effect: the mass of the map at its own resolution) exceeds every other
  layer's (paired, Holm over the other layers).
- ``border_only/<method>``: band share of ``|mass|`` > :data:`ONLY_SHARE`; null: larger than the
  randomized model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.claims.base import (
    HELD,
    INCONCLUSIVE,
    ClaimInputs,
    ClaimSpec,
    Verdict,
    inconclusive,
)
from seginterp.evaluate.claims.verdicts import decide, fmt, one_sample, region_rows
from seginterp.evaluate.regions import depth_rhos
from seginterp.evaluate.stats import PairSpec, paired_family, paired_one, summary

ONLY_SHARE = 0.9
"""``border_only``: "only border pixels contribute" read as more than 90 % of |mass| on the band."""

QUALITATIVE = "qualitative (maps)"
"""The paper's figure for a region claim: its maps (no number)."""


def _null_test(
    ci: ClaimInputs, level: str, method: str | None, value: Any
) -> tuple[str | None, str]:
    """Trained vs randomized on the null images: (``trained`` when significantly larger, else
    None; a short reason). ``value`` maps region rows of one weights setting to a Series by id."""
    df = ci.null
    if not len(df):
        return None, "no null images (evaluate.null_images = 0)"
    sub = df[(df["level"] == level) & (df["method"] == method)]
    both = pd.concat(
        {w: value(sub[sub["weights"] == w]) for w in ("trained", "randomized")}, axis=1
    ).dropna()
    if not len(both):
        return None, "no null maps"
    t, rnd = both["trained"].to_numpy(), both["randomized"].to_numpy()
    r = paired_one("trained", "randomized", t, rnd, "null", ci.alpha)
    if not r["testable"]:
        return None, f"null: too few images (n={r['n_nonzero']})"
    if r["better"] == "trained":
        return "trained", f"stronger than the randomized model (p={r['p_holm']:.2g})"
    if r["better"] == "randomized":
        return None, f"weaker than on the randomized model (p={r['p_holm']:.2g})"
    return None, f"not different from the randomized model (p={r['p_holm']:.2g})"


def _with_null(verdict: str, why: str, null: tuple[str | None, str]) -> tuple[str, str]:
    if verdict != HELD:
        return verdict, why
    if null[0] == "trained":
        return HELD, f"{why}; {null[1]}"
    return INCONCLUSIVE, f"{why}; but {null[1]}"


def _by_id(col: str) -> Any:
    return lambda d: d.set_index("id")[col].astype(np.float64)


def _of(ci: ClaimInputs, per: str, method: str | None) -> pd.DataFrame:
    rows = region_rows(ci, per)
    return rows[rows["method"] == method]


def border_sign(ci: ClaimInputs, method: str | None) -> Verdict:
    sub = _of(ci, "method", method)
    band = sub["band_net_share"].dropna().to_numpy(np.float64)
    inside = sub["inside_net_share"].dropna().to_numpy(np.float64)
    specs = [
        one_sample("band net", band, 0.0, True, "band net share"),
        one_sample("inside net", inside, 0.0, False, "inside net share"),
    ]
    res = paired_family(specs, ci.alpha)
    verdict, why = decide(res, {k: r["a"] for k, r in res.items()})
    contrast = _by_id("band_net_share")
    null = _null_test(ci, "model", method, lambda d: contrast(d) - _by_id("inside_net_share")(d))
    verdict, why = _with_null(verdict, why, null)
    b, i = summary(band, ci.n_boot, ci.seed), summary(inside, ci.n_boot, ci.seed)
    ours = f"net share band {fmt(b)}, inside {fmt(i)}; both signs in {int(sub['claim'].sum())}"
    return Verdict(f"{ours}/{len(sub)}", len(sub), verdict, why)


def border_only(ci: ClaimInputs, method: str | None) -> Verdict:
    share = _of(ci, "method", method)["band_abs_share"].dropna().to_numpy(np.float64)
    res = paired_family([one_sample("band share", share, ONLY_SHARE, True, "band share")], ci.alpha)
    verdict, why = decide(res, {k: r["a"] for k, r in res.items()})
    null = _null_test(ci, "model", method, _by_id("band_abs_share"))
    verdict, why = _with_null(verdict, why, null)
    s = summary(share, ci.n_boot, ci.seed)
    ours = f"band share of |mass| {fmt(s)} (held needs > {ONLY_SHARE:g})"
    return Verdict(ours, len(share), verdict, why)


def deeplift_coverage(ci: ClaimInputs, _: str | None) -> Verdict:
    model = region_rows(ci, "method")
    wide = model.pivot_table(index="id", columns="method", values="coverage_90").dropna()
    if "deeplift" not in wide.columns or wide.shape[1] < 2:
        return inconclusive("DeepLIFT or another method not computed")
    others = [m for m in dict.fromkeys(model["method"]) if m != "deeplift" and m in wide]
    dl = wide["deeplift"].to_numpy()
    specs = [PairSpec("deeplift", m, dl, wide[m].to_numpy(), "coverage_90", False) for m in others]
    res = paired_family(specs, ci.alpha)
    verdict, why = decide(res, {k: "deeplift" for k in res})
    means = {m: float(wide[m].mean()) for m in wide.columns}
    ours = "mean coverage_90: " + ", ".join(f"{m} {v:.3g}" for m, v in means.items())
    return Verdict(ours, len(wide), verdict, why)


def depth_focus(ci: ClaimInputs, method: str | None) -> Verdict:
    rhos = depth_rhos(_of(ci, "layer method", method), ci.layer_order)
    if not len(rhos):
        return inconclusive("fewer than 3 encoder layers")
    res = paired_family([one_sample("rho", rhos.to_numpy(), 0.0, True, "Spearman rho")], ci.alpha)
    verdict, why = decide(res, {k: "rho" for k in res})
    null = _null_test(ci, "layer", method, lambda d: depth_rhos(d, ci.layer_order))
    verdict, why = _with_null(verdict, why, null)
    ours = f"Spearman rho(depth, band share) {fmt(summary(rhos.to_numpy(), ci.n_boot, ci.seed))}"
    return Verdict(ours, len(rhos), verdict, why)


def decoder2_peak(ci: ClaimInputs, method: str | None) -> Verdict:
    sub = _of(ci, "layer method", method)
    wide = sub.pivot_table(index="id", columns="layer", values="native_abs_mass").dropna()
    layers = [k for k in ci.layer_order if k in wide.columns]
    if "decoder2" not in layers or len(layers) < 2:
        return inconclusive("decoder2 or other layers not computed")
    share = wide[layers].div(wide[layers].sum(axis=1), axis=0)
    d2 = share["decoder2"].to_numpy()
    what = "share of Σ|L|"
    others = [k for k in layers if k != "decoder2"]
    specs = [PairSpec("decoder2", k, d2, share[k].to_numpy(), what, False) for k in others]
    res = paired_family(specs, ci.alpha)
    verdict, why = decide(res, {k: "decoder2" for k in res})
    top = share.mean().sort_values(ascending=False)
    ours = (
        f"decoder2 {fmt(summary(d2, ci.n_boot, ci.seed))}; "
        f"largest mean share: {top.index[0]} {top.iloc[0]:.3g}"
    )
    short_why = "; ".join(p for p in why.split("; ") if "against" in p) or why
    return Verdict(ours, len(share), verdict, short_why)


SPECS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "border_sign",
        "{method}: border pixels positive, inner negative",
        "Fig. 5",
        QUALITATIVE,
        border_sign,
        per="method",
    ),
    ClaimSpec(
        "deeplift_coverage",
        "DeepLIFT marks more pixels (coverage_90) than the other methods",
        "Fig. 5",
        QUALITATIVE,
        deeplift_coverage,
    ),
    ClaimSpec(
        "depth_focus",
        "layer {method}: the deeper the encoder, the more focus on the border",
        "Figs 6, 7, 9",
        QUALITATIVE,
        depth_focus,
        per="layer method",
    ),
    ClaimSpec(
        "decoder2_peak",
        "layer {method}: decoder2 has the highest effect (share of native Σ|L|)",
        "Fig. 6",
        QUALITATIVE,
        decoder2_peak,
        per="layer method",
    ),
    ClaimSpec(
        "border_only",
        "{method}: only border pixels contribute",
        "Fig. 8 (HAM10000)",
        QUALITATIVE,
        border_only,
        per="method",
    ),
)
