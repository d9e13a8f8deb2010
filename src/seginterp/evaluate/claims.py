"""The paper's claims, one verdict each: ``claims.json`` and its Markdown table.

A verdict is ``held`` when the claimed direction is statistically supported (paired Wilcoxon
tests at ``alpha``, Holm within a claim's family, and for region claims also against the
randomized-weights null), ``not held`` when a test significantly contradicts it, ``inconclusive``
otherwise (no significant result, too few images, no paper figure, a method not computed).
Model-level inputs use each method's majority mode only (modes are never mixed); infidelity
comparisons between maps of different functions are made on skill (each map against its own
zero-map baseline). Region claims live in :mod:`seginterp.evaluate.claims_regions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.infidelity_tables import pair_spec, row_names
from seginterp.evaluate.paper import CLAIMED_ORDER, PAPER, PaperFigures, short
from seginterp.evaluate.stats import PairSpec, paired_family, paired_one, ratio_skill, summary

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE)


@dataclass(frozen=True)
class ClaimInputs:
    """What the claims are judged on: the per-image tables of the evaluate stage.

    ``frag``: fragility rows; ``regions``: region rows of the trained model (all scored images);
    ``null``: region rows of the trained and randomized models on the null images;
    ``segmentation``: the test split's per-image ``iou``/``dice`` (None: not available).
    """

    dataset: str
    paper: PaperFigures | None
    frag: pd.DataFrame
    regions: pd.DataFrame
    null: pd.DataFrame
    segmentation: pd.DataFrame | None
    layer_order: Sequence[str]
    sigma: float
    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0


def claim(
    cid: str, text: str, source: str, paper: str, ours: str, n: int, verdict: str, why: str
) -> dict[str, Any]:
    """One row of the claims table (the claims.json schema)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return {
        "id": cid,
        "claim": text,
        "source": source,
        "paper": paper,
        "ours": ours,
        "n": int(n),
        "verdict": verdict,
        "why": why,
    }


def fmt(s: Mapping[str, Any], key: str = "mean") -> str:
    """``value [lo, hi]`` of a summary (``mean``, ``median`` or ``ratio_of_means``)."""
    v = s.get(key)
    if v is None:
        return "—"
    if s.get("ci_low") is None:
        return f"{v:.3g} (n={s['n']}: no interval)"
    return f"{v:.3g} [{s['ci_low']:.3g}, {s['ci_high']:.3g}]"


def decide(results: Mapping[str, Mapping[str, Any]], claimed: Mapping[str, str]) -> tuple[str, str]:
    """Verdict and one-line reason from a family of paired tests.

    Args:
        results: :func:`~seginterp.evaluate.stats.paired_family` output.
        claimed: pair key -> the name the claim says is better.
    """
    if not results:
        return INCONCLUSIVE, "nothing to test"
    parts, contrary, supported, untestable = [], 0, 0, 0
    for k, r in results.items():
        head = f"{r['a']} vs {r['b']} ({r['what']}): "
        if not r["testable"]:
            untestable += 1
            parts.append(f"{head}too few images (n={r['n_nonzero']})")
            continue
        p = f"Holm p={r['p_holm']:.2g}"
        if r["better"] is None:
            parts.append(f"{head}no significant difference ({p})")
        elif r["better"] == claimed[k]:
            supported += 1
            parts.append(f"{head}{r['better']} better ({p})")
        else:
            contrary += 1
            parts.append(f"{head}{r['better']} better, against the claim ({p})")
    why = "; ".join(parts)
    if contrary:
        return NOT_HELD, why
    if supported == len(results):
        return HELD, why
    if untestable == len(results):
        return INCONCLUSIVE, "too few images to test: " + why
    return INCONCLUSIVE, why


def one_sample(name: str, values: np.ndarray, null: float, greater: bool, what: str) -> PairSpec:
    """A one-sample signed-rank test of ``values − null`` as a pair (``name`` vs ``null``):
    ``better`` = ``name`` when the values are significantly above ``null`` (``greater``) or
    below it (not ``greater``)."""
    v = np.asarray(values, dtype=np.float64)
    return PairSpec(name, f"{null:g}", v, np.full_like(v, null), what, not greater)


def majority_mode(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (method, layer) in its most frequent mode (ties: the first seen)."""
    if not len(df):
        return df
    keys = df["method"].astype(str) + "@" + df["layer"].fillna("-").astype(str)
    counts = df.assign(k=keys).groupby(["k", "mode"], sort=False).size().reset_index(name="c")
    best = counts.sort_values("c", ascending=False, kind="stable").drop_duplicates("k")
    keep = set(zip(best["k"], best["mode"], strict=True))
    mask = [(k, m) in keep for k, m in zip(keys, df["mode"], strict=True)]
    return df[np.asarray(mask, dtype=bool)]


def segmentation_claim(ci: ClaimInputs) -> dict[str, Any]:
    """Tables I/IV: the U-Net's test mDice and mIoU."""
    p = ci.paper
    text, src = "U-Net segmentation quality (test mDice, mIoU)", "Tables I, IV"
    paper = "; ".join(
        f"{f.name}: mDice {f.segmentation['mDice']}, mIoU {f.segmentation['mIoU']}"
        for f in ([p] if p else PAPER.values())
    )
    if ci.segmentation is None or not len(ci.segmentation):
        return claim("segmentation", text, src, paper, "—", 0, INCONCLUSIVE, "no test images")
    s = {
        "mDice": summary(ci.segmentation["dice"].to_numpy(np.float64), ci.n_boot, ci.seed),
        "mIoU": summary(ci.segmentation["iou"].to_numpy(np.float64), ci.n_boot, ci.seed),
    }
    ours = f"mDice {fmt(s['mDice'])}, mIoU {fmt(s['mIoU'])} (test)"
    n = s["mDice"]["n"]
    if p is None:
        return claim(
            "segmentation",
            text,
            src,
            paper,
            ours,
            n,
            INCONCLUSIVE,
            "no paper figure for this dataset",
        )
    src = p.segmentation_source + (f" ({p.note})" if "Table I " in p.note else "")
    if s["mDice"]["ci_low"] is None:
        return claim("segmentation", text, src, paper, ours, n, INCONCLUSIVE, "too few images")
    below = [k for k in s if s[k]["ci_high"] < p.segmentation[k]]
    if below:
        why = f"95% bootstrap interval below the paper's figure for {', '.join(below)}"
        return claim("segmentation", text, src, paper, ours, n, NOT_HELD, why)
    why = "the paper's figures are within or below our 95% bootstrap intervals"
    return claim("segmentation", text, src, paper, ours, n, HELD, why)


def _headline(ci: ClaimInputs, level: str) -> pd.DataFrame:
    f = ci.frag
    sub = f[(f["sigma"] == ci.sigma) & (~f["normalize"].astype(bool)) & (f["level"] == level)]
    return sub


def infidelity_order_claim(ci: ClaimInputs) -> dict[str, Any]:
    """Tables II/V: infidelity Guided Grad-CAM < DeepLIFT < Guided Backprop."""
    text = "model-level infidelity: Guided Grad-CAM < DeepLIFT < Guided Backprop"
    p = ci.paper
    figs = [p] if p else list(PAPER.values())
    paper = "; ".join(
        f"{f.name} {f.infidelity_source}: "
        + " / ".join(f"{f.infidelity[m]}" for m in CLAIMED_ORDER)
        + (f" ({f.note})" if "Table V" in f.note else "")
        for f in figs
    )
    src = "Tables II, V"
    model = majority_mode(_headline(ci, "model"))
    model = model.assign(row=row_names(model))
    missing = [m for m in CLAIMED_ORDER if m not in set(model["method"])]
    if missing:
        return claim(
            "infidelity_order",
            text,
            src,
            paper,
            "—",
            0,
            INCONCLUSIVE,
            f"not computed: {', '.join(missing)}",
        )
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
    why = f"paired Wilcoxon + Holm over images: {why}"
    return claim("infidelity_order", text, src, paper, ours, n, verdict, why)


def layer_robustness_claim(ci: ClaimInputs) -> dict[str, Any]:
    """Tables III/VI: layer Grad-CAM has lower infidelity than layer DeepLIFT."""
    from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR

    text = "layer Grad-CAM more robust (lower infidelity) than layer DeepLIFT"
    p = ci.paper
    paper = "; ".join(
        f"{f.name} {f.layer_source}: {f.layer_infidelity['gradcam']} vs "
        f"{f.layer_infidelity['deeplift']}"
        for f in ([p] if p else PAPER.values())
    )
    layer = _headline(ci, "layer")
    out: dict[str, Any] = {}
    for conv in (ACTIVATION, PAPER_BILINEAR):
        sub = layer[layer["convention"] == conv]
        wide = sub.groupby(["id", "method"])["skill"].mean().unstack()
        if not {"gradcam", "deeplift"} <= set(wide.columns):
            return claim(
                "layer_robustness",
                text,
                "Tables III, VI",
                paper,
                "—",
                0,
                INCONCLUSIVE,
                "layer Grad-CAM or layer DeepLIFT not computed",
            )
        wide = wide[["gradcam", "deeplift"]].dropna()
        x, y = wide["gradcam"].to_numpy(), wide["deeplift"].to_numpy()
        res = {"gradcam_vs_deeplift": paired_one("gradcam", "deeplift", x, y, "skill", ci.alpha)}
        out[conv] = (wide, res, decide(res, {"gradcam_vs_deeplift": "gradcam"}))
    wide, _, (verdict, why) = out[ACTIVATION]
    g = summary(wide["gradcam"].to_numpy(), ci.n_boot, ci.seed)
    d = summary(wide["deeplift"].to_numpy(), ci.n_boot, ci.seed)
    ours = f"mean skill over layers (activation space): Grad-CAM {fmt(g)} vs DeepLIFT {fmt(d)}"
    paper_verdict = out[PAPER_BILINEAR][2][0]
    why = (
        f"Wilcoxon on per-image skill averaged over layers, activation space: {why}; "
        f"under the paper's bilinear convention: {paper_verdict}"
    )
    return claim("layer_robustness", text, "Tables III, VI", paper, ours, len(wide), verdict, why)


def claims_document(ci: ClaimInputs, n_images: int) -> dict[str, Any]:
    """claims.json: every claim of the paper with its verdict (module doc)."""
    from seginterp.evaluate.claims_regions import region_claims

    rows = [segmentation_claim(ci)]
    if n_images == 0 or not len(ci.frag):
        rows += [
            claim(cid, text, src, "—", "—", 0, INCONCLUSIVE, "no explainable image")
            for cid, text, src in _EXPLAINED_CLAIMS
        ]
    else:
        rows += [infidelity_order_claim(ci), layer_robustness_claim(ci), *region_claims(ci)]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return {"dataset": ci.dataset, "n_images": int(n_images), "claims": rows, "counts": counts}


_EXPLAINED_CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("infidelity_order", "model-level infidelity: GGC < DeepLIFT < GBP", "Tables II, V"),
    ("layer_robustness", "layer Grad-CAM more robust than layer DeepLIFT", "Tables III, VI"),
    ("border_sign", "border pixels positive, inner pixels negative", "Fig. 5"),
    ("deeplift_coverage", "DeepLIFT marks more pixels than the other methods", "Fig. 5"),
    ("depth_focus", "the deeper the encoder, the more focus on the border", "Figs 6, 7, 9"),
    ("decoder2_peak", "decoder2 has the highest effect", "Fig. 6"),
    ("border_only", "only border pixels contribute", "Fig. 8"),
)


def claims_markdown(doc: Mapping[str, Any]) -> str:
    """The claims table as Markdown (claims.md)."""
    c = doc["counts"]
    lines = [
        f"Claims of the paper on `{doc['dataset']}` ({doc['n_images']} explained test images): "
        f"{c[HELD]} held, {c[NOT_HELD]} not held, {c[INCONCLUSIVE]} inconclusive.",
        "",
        "| claim | source | paper | ours | n | verdict | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["claims"]:
        cells = [
            f"{r['claim']} (`{r['id']}`)",
            r["source"],
            r["paper"],
            r["ours"],
            str(r["n"]),
            f"**{r['verdict']}**",
            r["why"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
