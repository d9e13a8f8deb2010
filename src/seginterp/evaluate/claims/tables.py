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
    ClaimInputs,
    ClaimSpec,
    Verdict,
    inconclusive,
)
from seginterp.evaluate.claims.verdicts import decide, fmt, majority_mode
from seginterp.evaluate.infidelity_tables import pair_spec, row_names
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR
from seginterp.evaluate.paper import CLAIMED_ORDER, PAPER, PaperFigures, short
from seginterp.evaluate.stats import paired_family, paired_one, ratio_skill, summary


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


def segmentation(ci: ClaimInputs, _: str | None) -> Verdict:
    """Tables I/IV: the U-Net's test mDice and mIoU against the paper's."""
    if ci.segmentation is None or not len(ci.segmentation):
        return inconclusive("no test images")
    s = {
        "mDice": summary(ci.segmentation["dice"].to_numpy(np.float64), ci.n_boot, ci.seed),
        "mIoU": summary(ci.segmentation["iou"].to_numpy(np.float64), ci.n_boot, ci.seed),
    }
    ours = f"mDice {fmt(s['mDice'])}, mIoU {fmt(s['mIoU'])} (test)"
    n, p = s["mDice"]["n"], ci.paper
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


def _headline(ci: ClaimInputs, level: str) -> pd.DataFrame:
    f = ci.frag
    return f[(f["sigma"] == ci.sigma) & (~f["normalize"].astype(bool)) & (f["level"] == level)]


def _infidelity_paper(p: PaperFigures | None) -> str:
    return "; ".join(
        f"{f.name} {f.infidelity_source}: "
        + " / ".join(f"{f.infidelity[m]}" for m in CLAIMED_ORDER)
        + (f" ({f.note})" if "Table V" in f.note else "")
        for f in _figures(p)
    )


def infidelity_order(ci: ClaimInputs, _: str | None) -> Verdict:
    """Tables II/V: infidelity Guided Grad-CAM < DeepLIFT < Guided Backprop, on skill."""
    model = majority_mode(_headline(ci, "model"))
    model = model.assign(row=row_names(model))
    missing = [m for m in CLAIMED_ORDER if m not in set(model["method"])]
    if missing:
        return inconclusive(f"not computed: {', '.join(missing)}")
    rows = {m: model.loc[model["method"] == m, "row"].iloc[0] for m in CLAIMED_ORDER}
    parts = []
    for m in CLAIMED_ORDER:
        sub = model[(model["method"] == m) & (model["zero"] > 0)]
        s = ratio_skill(sub["infidelity"].to_numpy(), sub["zero"].to_numpy(), ci.n_boot, ci.seed)
        mode = str(sub["mode"].iloc[0])
        label = short(m) if mode == "one-pass" else f"{short(m)} [{mode}]"
        parts.append(f"{label} {fmt(s, 'ratio_of_means')}")
    ours = "skill (ratio of means): " + "; ".join(parts)
    pairs = [(0, 1), (1, 2), (0, 2)]
    specs = [pair_spec(model, rows[CLAIMED_ORDER[i]], rows[CLAIMED_ORDER[j]]) for i, j in pairs]
    specs = [s for s in specs if s is not None]
    results = paired_family(specs, ci.alpha)
    claimed = {f"{s.a}_vs_{s.b}": s.a for s in specs}  # the claim: the first of each pair wins
    verdict, why = decide(results, claimed)
    n = min((r["n"] for r in results.values()), default=0)
    return Verdict(ours, n, verdict, f"paired Wilcoxon + Holm over images: {why}")


def _layer_paper(p: PaperFigures | None) -> str:
    return "; ".join(
        f"{f.name} {f.layer_source}: {f.layer_infidelity['gradcam']} vs "
        f"{f.layer_infidelity['deeplift']}"
        for f in _figures(p)
    )


def layer_robustness(ci: ClaimInputs, _: str | None) -> Verdict:
    """Tables III/VI: layer Grad-CAM has lower infidelity than layer DeepLIFT."""
    layer = _headline(ci, "layer")
    out = {}
    for conv in (ACTIVATION, PAPER_BILINEAR):
        sub = layer[layer["convention"] == conv]
        wide = sub.groupby(["id", "method"])["skill"].mean().unstack()
        if not {"gradcam", "deeplift"} <= set(wide.columns):
            return inconclusive("layer Grad-CAM or layer DeepLIFT not computed")
        wide = wide[["gradcam", "deeplift"]].dropna()
        x, y = wide["gradcam"].to_numpy(), wide["deeplift"].to_numpy()
        res = {"gradcam_vs_deeplift": paired_one("gradcam", "deeplift", x, y, "skill", ci.alpha)}
        out[conv] = (wide, decide(res, {"gradcam_vs_deeplift": "gradcam"}))
    wide, (verdict, why) = out[ACTIVATION]
    g = summary(wide["gradcam"].to_numpy(), ci.n_boot, ci.seed)
    d = summary(wide["deeplift"].to_numpy(), ci.n_boot, ci.seed)
    ours = f"mean skill over layers (activation space): Grad-CAM {fmt(g)} vs DeepLIFT {fmt(d)}"
    why = (
        f"Wilcoxon on per-image skill averaged over layers, activation space: {why}; "
        f"under the paper's bilinear convention: {out[PAPER_BILINEAR][1][0]}"
    )
    return Verdict(ours, len(wide), verdict, why)


SPECS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        "segmentation",
        "U-Net segmentation quality (test mDice, mIoU)",
        _segmentation_source,
        _segmentation_paper,
        segmentation,
        explained=False,
    ),
    ClaimSpec(
        "infidelity_order",
        "model-level infidelity: Guided Grad-CAM < DeepLIFT < Guided Backprop",
        "Tables II, V",
        _infidelity_paper,
        infidelity_order,
    ),
    ClaimSpec(
        "layer_robustness",
        "layer Grad-CAM more robust (lower infidelity) than layer DeepLIFT",
        "Tables III, VI",
        _layer_paper,
        layer_robustness,
    ),
)
