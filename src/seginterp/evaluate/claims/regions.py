"""The paper's claims about where maps put their mass (Figs 5–9), with the randomized null.

A region pattern is judged against the randomized-weights model for the same images and
functions: ``held`` needs the pattern significant on the trained model *and* stronger than on the
randomized one; ``not held`` the contrary pattern significant and a trained model that differs
from the randomized one; a pattern the randomized model shows equally is *untestable on this
architecture* (inconclusive); without a null test neither (:func:`.verdicts.with_null`).
Model-level methods are taken in their majority mode. The null tests of ``border_only`` and
``depth_focus`` are the regions_null section's (:mod:`seginterp.evaluate.results.null`:
families ``band`` and ``depth_trend``), read back, never recomputed; ``border_sign``'s contrast
null is its own (family ``null``). Definitions:

- ``border_sign/<method>``: band net share > 0 and inside net share < 0, relative to the explained
  change: each image's shares × sign(Δf), ``Δf = f(x) − f(x₀)``. One-sample Wilcoxon each, Holm
  over the two; null: the contrast band − inside is larger than the randomized model's (each ×
  its own model's sign of Δf). A reference-based method is asked again under the second baseline
  (:mod:`seginterp.evaluate.baseline`, on the null images; rows at ``convention`` ``baseline
  <name>``): when both verdicts are decided and differ the claim is *baseline-dependent*
  (inconclusive).
- ``deeplift_coverage``: ``coverage_90`` (fraction of pixels holding 90 % of ``|map|``) of
  DeepLIFT exceeds that of the paper's other methods, Guided Backprop and Guided Grad-CAM
  (paired, Holm over them; the methods the paper did not use are not compared).
- ``depth_focus/<layer method>``: per image Spearman ρ of band share vs encoder depth
  (encoder1 … bottleneck) > 0; null: ρ larger than the randomized model's.
- ``decoder2_peak/<layer method>``: decoder2's share of the summed native ``Σ|L|`` over layers (a
  resolution-independent effect: the mass of the map at its own resolution) exceeds every other
  layer's (paired, Holm over the other layers).
- ``border_only/<method>``: band share of ``|mass|`` > :data:`ONLY_SHARE`; null: larger than the
  randomized model's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seginterp.evaluate.claims.base import (
    INCONCLUSIVE,
    ClaimSpec,
    Verdict,
    cannot_judge,
    claim_key,
    count,
    n_of,
)
from seginterp.evaluate.claims.verdicts import (
    NULL,
    decide_first,
    fmt,
    null_test,
    one_sample,
    region_rows,
    with_null,
)
from seginterp.evaluate.paper import PAPER_METHODS
from seginterp.evaluate.regions import depth_rhos
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, Row, estimate, point, tests
from seginterp.evaluate.stats import PairSpec

BASELINE, CONFIGURED = "baseline", "(configured)"
"""The ``convention`` of a claim's rows under a second baseline, ``baseline <name>``, and of the
configured baseline's rows on the same images, ``baseline <name> (configured)``."""

ONLY_SHARE = 0.9
"""``border_only``: "only border pixels contribute" read as more than 90 % of |mass| on the band."""

QUALITATIVE = "qualitative (maps)"
"""The paper's figure for a region claim: its maps (no number)."""


def _of(m: Measured, per: str, method: str | None) -> pd.DataFrame:
    rows = region_rows(m, per)
    return rows[rows["method"] == method]


def _mean(key: Key, values: np.ndarray, m: Measured) -> Row:
    return estimate(key, values, "mean", m.cfg.bootstrap, m.cfg.seed)


def _signed(d: pd.DataFrame, col: str) -> pd.Series:
    """``col`` of region rows by image id, relative to the explained change: × sign(Δf)."""
    by_id = d.set_index("id")
    return by_id[col].astype(np.float64) * np.sign(by_id["delta_f"].astype(np.float64))


def _contrast_null(key: Key, m: Measured, method: str | None) -> list[Row]:
    """Trained vs randomized band − inside net share (each × the sign of its model's Δf) of one
    model-level method on the null images: the family ``null`` at ``key`` (none without null
    maps of both models)."""
    df = m.null
    if not len(df):
        return []
    sub = df[(df["level"] == "model") & (df["method"] == method)]

    def contrast(d: pd.DataFrame) -> pd.Series:
        return _signed(d, "band_net_share") - _signed(d, "inside_net_share")

    both = pd.concat(
        {w: contrast(sub[sub["weights"] == w]) for w in ("trained", "randomized")}, axis=1
    ).dropna()
    if not len(both):
        return []
    t, rnd = both["trained"].to_numpy(np.float64), both["randomized"].to_numpy(np.float64)
    return tests(key, "null", [PairSpec("trained", "randomized", t, rnd, "null", False)],
                 m.cfg.alpha)  # fmt: skip


def _border_sign_tests(m: Measured, method: str | None) -> list[Row]:
    """Band net share > 0 and inside net share < 0 relative to the explained change (each × the
    sign of the image's Δf = f(x) − f(x₀): a reference-based map sums to Δf, so its raw sign is
    the baseline's), one family; their means, the images with both signs and with Δf < 0, and
    the contrast's null; the same under the second baseline where it was measured."""
    key = claim_key("border_sign", method)
    mine = _of(m, "method", method)
    out = _sign_rows(m, key, mine) + _contrast_null(key, m, method)
    other = m.baseline
    if len(other):
        other = other[(other["level"] == "model") & (other["method"] == method)]
        for name in dict.fromkeys(other["baseline"]):
            alt = other[other["baseline"] == name]
            out += _sign_rows(m, key.but(convention=f"{BASELINE} {name}"), alt)
            same = mine[mine["id"].isin(set(alt["id"]))]
            out += _sign_rows(m, key.but(convention=f"{BASELINE} {name} {CONFIGURED}"), same)
    return out


def _sign_rows(m: Measured, key: Key, sub: pd.DataFrame) -> list[Row]:
    band, inside = _signed(sub, "band_net_share"), _signed(sub, "inside_net_share")
    specs = [
        one_sample("band net", band.dropna().to_numpy(np.float64), 0.0, True, "band net share"),
        one_sample("inside net", inside.dropna().to_numpy(np.float64), 0.0, False,
                   "inside net share"),
    ]  # fmt: skip
    both = int(((band > 0) & (inside < 0)).sum())
    return [
        *tests(key, "claim", specs, m.cfg.alpha),
        _mean(key.but(quantity="band_net_share"), band.dropna().to_numpy(np.float64), m),
        _mean(key.but(quantity="inside_net_share"), inside.dropna().to_numpy(np.float64), m),
        point(key.but(quantity="n_both_signs"), both),
        point(key.but(quantity="n_delta_f_negative"), int((sub["delta_f"] < 0).sum())),
        count(key, len(sub)),
    ]


def border_sign(res: Results, ctx: Context, method: str | None) -> Verdict:
    key = claim_key("border_sign", method)
    verdict, why = decide_first(res.family(key, "claim"))
    verdict, why = with_null(verdict, why, null_test(res, key, "null"))
    b, i = (res.summary(key.but(quantity=q)) for q in ("band_net_share", "inside_net_share"))
    n, both = n_of(res, key), int(res.value(key.but(quantity="n_both_signs")))
    negative = int(res.value(key.but(quantity="n_delta_f_negative")))
    ours = (
        f"relative to Δf = f(x) − f(x₀) (shares × sign Δf; Δf < 0 on {negative}/{n}): "
        f"net share band {fmt(b)}, inside {fmt(i)}; both signs in {both}/{n}"
    )
    for name in _baselines(res, key):
        at = key.but(convention=f"{BASELINE} {name}")
        other, other_why = decide_first(res.family(at, "claim"))
        mine, _ = decide_first(res.family(key.but(convention=f"{at.convention} {CONFIGURED}"),
                                          "claim"))  # fmt: skip
        b2, i2 = (res.summary(at.but(quantity=q)) for q in ("band_net_share", "inside_net_share"))
        n2 = n_of(res, at)
        ours += f"; under the {name} baseline ({n2} images): band {fmt(b2)}, inside {fmt(i2)}"
        if INCONCLUSIVE not in (mine, other) and mine != other:
            why = (f"baseline-dependent: on the {n2} images measured under both, {mine} under "
                   f"the configured baseline and {other} under the {name} baseline "
                   f"({other_why})")  # fmt: skip
            verdict = INCONCLUSIVE
        elif mine == other:
            why = f"{why}; the same under the {name} baseline ({n2} images)"
        else:
            why = (f"{why}; on the {n2} images measured under both: {mine} under the configured "
                   f"baseline, {other} under the {name} baseline ({other_why})")  # fmt: skip
    return Verdict(ours, n, verdict, why)


def _baselines(res: Results, key: Key) -> list[str]:
    """The second baselines the claim at ``key`` was tested under."""
    prefix = f"{BASELINE} "
    rows = res.select(section=key.section, name=key.name, quantity="n")
    conventions = [r["convention"] or "" for r in rows]
    return [c[len(prefix):] for c in conventions
            if c.startswith(prefix) and not c.endswith(CONFIGURED)]  # fmt: skip


def _border_only_tests(m: Measured, method: str | None) -> list[Row]:
    """Band share of |mass| > :data:`ONLY_SHARE` (the null is the regions_null band family)."""
    key = claim_key("border_only", method)
    share = _of(m, "method", method)["band_abs_share"].dropna().to_numpy(np.float64)
    spec = one_sample("band share", share, ONLY_SHARE, True, "band share")
    return [
        *tests(key, "claim", [spec], m.cfg.alpha),
        _mean(key.but(quantity="band_abs_share"), share, m),
        count(key, len(share)),
    ]


def border_only(res: Results, ctx: Context, method: str | None) -> Verdict:
    key = claim_key("border_only", method)
    verdict, why = decide_first(res.family(key, "claim"))
    null = null_test(res, Key(NULL, level="model", method=method), "band")
    verdict, why = with_null(verdict, why, null)
    s = res.summary(key.but(quantity="band_abs_share"))
    ours = f"band share of |mass| {fmt(s)} (held needs > {ONLY_SHARE:g})"
    return Verdict(ours, n_of(res, key), verdict, why)


def _coverage_tests(m: Measured, subject: str | None) -> list[Row]:
    """DeepLIFT's coverage_90 vs the paper's other methods' (one family); each one's mean."""
    key = claim_key("deeplift_coverage", subject)
    model = region_rows(m, "method")
    model = model[model["method"].isin(PAPER_METHODS)]
    wide = model.pivot_table(index="id", columns="method", values="coverage_90").dropna()
    others = [x for x in PAPER_METHODS if x != "deeplift" and x in wide]
    if "deeplift" not in wide.columns or not others:
        return [cannot_judge(key, "DeepLIFT or the paper's other methods not computed")]
    dl = wide["deeplift"].to_numpy()
    specs = [PairSpec("deeplift", x, dl, wide[x].to_numpy(), "coverage_90", False) for x in others]
    means = [point(key.but(quantity="coverage_90", method=x), float(wide[x].mean()))
             for x in ("deeplift", *others)]  # fmt: skip
    return [*tests(key, "claim", specs, m.cfg.alpha), *means, count(key, len(wide))]


def deeplift_coverage(res: Results, ctx: Context, subject: str | None) -> Verdict:
    key = claim_key("deeplift_coverage", subject)
    verdict, why = decide_first(res.family(key, "claim"))
    means = res.select(section=key.section, name=key.name, quantity="coverage_90")
    ours = "mean coverage_90: " + ", ".join(f"{r['method']} {r['estimate']:.3g}" for r in means)
    return Verdict(ours, n_of(res, key), verdict, why)


def _depth_tests(m: Measured, method: str | None) -> list[Row]:
    """Per-image Spearman ρ of band share vs encoder depth > 0 (its mean is the regions
    section's ``depth_rho``, the null the regions_null ``depth_trend`` family)."""
    key = claim_key("depth_focus", method)
    rhos = depth_rhos(_of(m, "layer method", method), m.layer_order).to_numpy()
    if not len(rhos):
        return [cannot_judge(key, "fewer than 3 encoder layers")]
    spec = one_sample("rho", rhos, 0.0, True, "Spearman rho")
    return [*tests(key, "claim", [spec], m.cfg.alpha), count(key, len(rhos))]


def depth_focus(res: Results, ctx: Context, method: str | None) -> Verdict:
    key = claim_key("depth_focus", method)
    verdict, why = decide_first(res.family(key, "claim"))
    null = null_test(res, Key(NULL, level="layer", method=method), "depth_trend")
    verdict, why = with_null(verdict, why, null)
    rho = res.summary(Key("regions", "depth_rho", "layer", method))  # results.regions' estimate
    ours = f"Spearman rho(depth, band share) {fmt(rho)}"
    return Verdict(ours, n_of(res, key), verdict, why)


def _peak_tests(m: Measured, method: str | None) -> list[Row]:
    """decoder2's share of Σ|L| vs every other layer's (one family), its mean, and the layer of
    the largest mean share."""
    key = claim_key("decoder2_peak", method)
    sub = _of(m, "layer method", method)
    wide = sub.pivot_table(index="id", columns="layer", values="native_abs_mass").dropna()
    layers = [k for k in m.layer_order if k in wide.columns]
    if "decoder2" not in layers or len(layers) < 2:
        return [cannot_judge(key, "decoder2 or other layers not computed")]
    share = wide[layers].div(wide[layers].sum(axis=1), axis=0)
    d2 = share["decoder2"].to_numpy()
    what = "share of Σ|L|"
    others = [k for k in layers if k != "decoder2"]
    specs = [PairSpec("decoder2", k, d2, share[k].to_numpy(), what, False) for k in others]
    top = share.mean().sort_values(ascending=False)
    return [
        *tests(key, "claim", specs, m.cfg.alpha),
        _mean(key.but(quantity="decoder2_share"), d2, m),
        {**point(key.but(quantity="largest_mean_share"), float(top.iloc[0])), "note": top.index[0]},
        count(key, len(share)),
    ]


def decoder2_peak(res: Results, ctx: Context, method: str | None) -> Verdict:
    key = claim_key("decoder2_peak", method)
    verdict, why = decide_first(res.family(key, "claim"))
    top = res.get(key.but(quantity="largest_mean_share"), "point")
    d2 = res.summary(key.but(quantity="decoder2_share"))
    largest = "" if top is None else f"; largest mean share: {top['note']} {top['estimate']:.3g}"
    ours = f"decoder2 {fmt(d2)}{largest}"
    short_why = "; ".join(p for p in why.split("; ") if "against" in p) or why
    return Verdict(ours, n_of(res, key), verdict, short_why)


SPECS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "border_sign",
        "{method}: border pixels positive, inner negative",
        "Fig. 5",
        QUALITATIVE,
        _border_sign_tests,
        border_sign,
        per="method",
    ),
    ClaimSpec(
        "deeplift_coverage",
        "DeepLIFT marks more pixels (coverage_90) than Guided Backprop and Guided Grad-CAM",
        "Fig. 5",
        QUALITATIVE,
        _coverage_tests,
        deeplift_coverage,
    ),
    ClaimSpec(
        "depth_focus",
        "layer {method}: the deeper the encoder, the more focus on the border",
        "Figs 6, 7, 9",
        QUALITATIVE,
        _depth_tests,
        depth_focus,
        per="layer method",
    ),
    ClaimSpec(
        "decoder2_peak",
        "layer {method}: decoder2 has the highest effect (share of native Σ|L|)",
        "Fig. 6",
        QUALITATIVE,
        _peak_tests,
        decoder2_peak,
        per="layer method",
    ),
    ClaimSpec(
        "border_only",
        "{method}: only border pixels contribute",
        "Fig. 8 (HAM10000)",
        QUALITATIVE,
        _border_only_tests,
        border_only,
        per="method",
    ),
)
