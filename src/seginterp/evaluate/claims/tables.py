"""The claims on the paper's tables: segmentation quality (I, IV), model-level infidelity order
(II, V) and layer robustness (III, VI).

Model-level inputs use each method's majority mode only (modes are never mixed); infidelity
comparisons between maps of different functions are made on skill (each map against its own
zero-map baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seginterp.evaluate.claims.base import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    ClaimSpec,
    Verdict,
    cannot_judge,
    claim_key,
    count,
    inconclusive,
    n_of,
)
from seginterp.evaluate.claims.verdicts import decide, decide_first, fmt, majority_mode
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR
from seginterp.evaluate.paper import CLAIMED_ORDER, PAPER, PaperFigures, short
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.infidelity import pair_specs, row_names
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, Row, estimate, key_of, point, tests
from seginterp.evaluate.stats import PairSpec


def _figures(p: PaperFigures | None) -> list[PaperFigures]:
    """The dataset's figures, or every paper dataset's when it has none."""
    return [p] if p else list(PAPER.values())


def _segmentation_source(p: PaperFigures | None) -> str:
    if p is None:
        return "Tables I, IV"
    return p.segmentation_source + (f" ({p.note})" if "Table I " in p.note else "")


def _segmentation_paper(p: PaperFigures | None) -> str:
    return "; ".join(
        f"{f.name}: mDice {f.segmentation['mDice']}, mIoU {f.segmentation['mIoU']}"
        for f in _figures(p)
    )


def _segmentation_tests(m: Measured, subject: str | None) -> list[Row]:
    """Nothing of its own: the scores are the segmentation section's (none: why not)."""
    seg = m.segmentation
    none = seg is None or not len(seg)
    return [cannot_judge(claim_key("segmentation", subject), "no test images")] if none else []


def segmentation(res: Results, ctx: Context, subject: str | None) -> Verdict:
    """Tables I/IV: the U-Net's test mDice and mIoU against the paper's."""
    s = {k: res.summary(Key("segmentation", quantity=q)) for k, q in (("mDice", "dice"),
                                                                      ("mIoU", "iou"))}  # fmt: skip
    ours = f"mDice {fmt(s['mDice'])}, mIoU {fmt(s['mIoU'])} (test)"
    n, p = s["mDice"]["n"], ctx.paper
    if p is None:
        return Verdict(ours, n, INCONCLUSIVE, "no paper figure for this dataset")
    if s["mDice"]["ci_low"] is None:
        return Verdict(ours, n, INCONCLUSIVE, "too few images")
    below = [k for k in s if s[k]["ci_high"] < p.segmentation[k]]
    if below:
        why = f"95% bootstrap interval below the paper's figure for {', '.join(below)}"
        return Verdict(ours, n, NOT_HELD, why)
    why = "the paper's figures are within or below our 95% bootstrap intervals"
    return Verdict(ours, n, HELD, why)


def _headline(m: Measured, level: str, normalize: bool = False) -> pd.DataFrame:
    f = m.frag
    at = (f["sigma"] == m.sigma) & (f["normalize"].astype(bool) == normalize)
    return f[at & (f["level"] == level)]


def _infidelity_paper(p: PaperFigures | None) -> str:
    return "; ".join(
        f"{f.name} {f.infidelity_source}: "
        + " / ".join(f"{f.infidelity[m]}" for m in CLAIMED_ORDER)
        + (f" ({f.note})" if "Table V" in f.note else "")
        for f in _figures(p)
    )


def _order_tests(m: Measured, subject: str | None) -> list[Row]:
    """Per claimed method its skill (ratio of means, majority mode); the pairs of the claimed
    order tested as one family."""
    key = claim_key("infidelity_order", subject)
    model = majority_mode(_headline(m, "model"))
    model = model.assign(row=row_names(model))
    missing = [meth for meth in CLAIMED_ORDER if meth not in set(model["method"])]
    if missing:
        return [cannot_judge(key, f"not computed: {', '.join(missing)}")]
    rows = {meth: model.loc[model["method"] == meth, "row"].iloc[0] for meth in CLAIMED_ORDER}
    # each method's skill is its infidelity row's (results.infidelity): the claim names its mode
    modes = model.drop_duplicates("method").set_index("method")["mode"]
    out = [
        point(key.but(quantity="mode", method=x, mode=str(modes[x])), None) for x in CLAIMED_ORDER
    ]
    pairs = [(rows[CLAIMED_ORDER[i]], rows[CLAIMED_ORDER[j]]) for i, j in [(0, 1), (1, 2), (0, 2)]]
    family = tests(key, "claim", pair_specs(model, pairs), m.cfg.alpha)
    return [*out, *family, count(key, min((r["n"] for r in family), default=0))]


def infidelity_order(res: Results, ctx: Context, subject: str | None) -> Verdict:
    """Tables II/V: infidelity Guided Grad-CAM < DeepLIFT < Guided Backprop, on skill."""
    key = claim_key("infidelity_order", subject)
    parts = []
    for meth in CLAIMED_ORDER:
        rows = res.select(section=key.section, name=key.name, quantity="mode", method=meth)
        if len(rows) != 1:  # pooled replicates whose maps of meth differ in mode
            return inconclusive(f"{meth}: its maps differ in mode between the replicate models")
        mode = rows[0]["mode"]
        (skill,) = res.select(section="infidelity", level="model", method=meth, mode=mode,
                              sigma=ctx.sigma, normalize=False, quantity="skill")  # fmt: skip
        label = short(meth) if mode == "one-pass" else f"{short(meth)} [{mode}]"
        parts.append(f"{label} {fmt(res.summary(key_of(skill), skill['stat']), 'ratio_of_means')}")
    ours = "skill (ratio of means): " + "; ".join(parts)
    verdict, why = decide_first(res.family(key, "claim"))  # the first of each pair wins
    return Verdict(ours, n_of(res, key), verdict, f"paired Wilcoxon + Holm over images: {why}")


def _layer_paper(p: PaperFigures | None) -> str:
    return "; ".join(
        f"{f.name} {f.layer_source}: {f.layer_infidelity['gradcam']} vs "
        f"{f.layer_infidelity['deeplift']}"
        for f in _figures(p)
    )


def _boot(m: Measured) -> tuple[int, int]:
    return m.cfg.bootstrap, m.cfg.seed


def _robustness_tests(m: Measured, subject: str | None) -> list[Row]:
    """Per convention, layer Grad-CAM vs layer DeepLIFT on the per-image *normalized* skill
    averaged over layers (a family of one): it does not move when a layer's units are rescaled,
    the unnormalized skill does (activation × gradient maps against noise scaled to the layer).
    The mean skills in activation space, normalized and unnormalized (the paper's metric)."""
    key = claim_key("layer_robustness", subject)
    out = []
    for normalize in (True, False):
        layer = _headline(m, "layer", normalize)
        for conv in (ACTIVATION, PAPER_BILINEAR):
            sub = layer[layer["convention"] == conv]
            wide = sub.groupby(["id", "method"])["skill"].mean().unstack()
            if not {"gradcam", "deeplift"} <= set(wide.columns):
                return [cannot_judge(key, "layer Grad-CAM or layer DeepLIFT not computed")]
            wide = wide[["gradcam", "deeplift"]].dropna()
            x, y = wide["gradcam"].to_numpy(np.float64), wide["deeplift"].to_numpy(np.float64)
            if normalize:
                spec = PairSpec("gradcam", "deeplift", x, y, "normalized skill", False)
                out += tests(key.but(convention=conv), "claim", [spec], m.cfg.alpha)
            if conv == ACTIVATION:
                at = key.but(quantity="skill", convention=conv, normalize=normalize)
                for meth in ("gradcam", "deeplift"):
                    values = wide[meth].to_numpy()
                    out.append(estimate(at.but(method=meth), values, "mean", *_boot(m)))
            if normalize and conv == ACTIVATION:
                out.append(count(key, len(wide)))
    return out


def layer_robustness(res: Results, ctx: Context, subject: str | None) -> Verdict:
    """Tables III/VI: layer Grad-CAM has lower infidelity than layer DeepLIFT, judged on the
    normalized skill (scale-free); the unnormalized one is shown as the paper's metric."""
    key = claim_key("layer_robustness", subject)
    claimed = {"gradcam_vs_deeplift": "gradcam"}
    verdict, why = decide(res.family(key.but(convention=ACTIVATION), "claim"), claimed)
    paper, _ = decide(res.family(key.but(convention=PAPER_BILINEAR), "claim"), claimed)

    def means(normalize: bool) -> str:
        at = key.but(quantity="skill", convention=ACTIVATION, normalize=normalize)
        g, d = (res.summary(at.but(method=meth)) for meth in ("gradcam", "deeplift"))
        return f"Grad-CAM {fmt(g)} vs DeepLIFT {fmt(d)}"

    ours = (
        f"mean normalized skill over layers (activation space): {means(True)}; the paper's "
        f"metric (unnormalized skill): {means(False)}"
    )
    why = (
        "Wilcoxon on per-image normalized skill (unchanged when a layer's units are rescaled) "
        f"averaged over layers, activation space: {why}; under the paper's bilinear convention: "
        f"{paper}"
    )
    return Verdict(ours, n_of(res, key), verdict, why)


SPECS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "segmentation",
        "U-Net segmentation quality (test mDice, mIoU)",
        _segmentation_source,
        _segmentation_paper,
        _segmentation_tests,
        segmentation,
        explained=False,
    ),
    ClaimSpec(
        "infidelity_order",
        "model-level infidelity: Guided Grad-CAM < DeepLIFT < Guided Backprop",
        "Tables II, V",
        _infidelity_paper,
        _order_tests,
        infidelity_order,
    ),
    ClaimSpec(
        "layer_robustness",
        "layer Grad-CAM more robust (lower infidelity) than layer DeepLIFT",
        "Tables III, VI",
        _layer_paper,
        _robustness_tests,
        layer_robustness,
    ),
)
