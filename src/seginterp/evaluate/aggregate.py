"""The metrics documents of the evaluate stage: fragility.json, regions.json, sanity.json.

Per-image tables go in, summaries over images (bootstrap intervals, paired tests between methods)
come out. The documents describe their own conventions in prose entries, so a reader of the JSON
alone knows what was scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.infidelity import chance_skill
from seginterp.evaluate.regions import aggregate_regions
from seginterp.evaluate.sanity import aggregate_sanity
from seginterp.evaluate.stats import pairwise_tests, ratio_skill, summary

FUNCTION_DOC = (
    "f(x) = mean over the frozen border B of the logits z_q(x) (B from the unperturbed "
    "prediction); a sampled(K) map is scored against the mean over its own K pixels"
)
LAYER_CONVENTION = (
    "layer maps are channel-summed, bilinearly upsampled to the input and broadcast to every "
    "input channel: <Phi, I> = sum_hw L[h,w] * sum_c I_c[h,w]"
)
REGIONS_DOC = (
    "band = border dilated by band_width px (4-connected); inside = prediction "
    "minus band; outside = rest; model maps summed over channels"
)
SANITY_DOC = (
    "Spearman rank correlation over pixels between the channel-summed map of the "
    "trained model and of the same architecture re-initialized (seeded); same border"
)


def sigma_key(sigma: float) -> str:
    """JSON key of a σ without dots (DVC flattens metric keys with dots): 0.03 -> ``sigma_0p03``."""
    return "sigma_" + f"{sigma:g}".replace(".", "p").replace("-", "m")


def _skill_verdict(skill: Mapping[str, Any], chance: float, normalize: bool) -> str:
    lo, hi = skill["ci_low"], skill["ci_high"]
    ref = "chance (1/n_perturb_samples)" if normalize else "an empty map"
    if lo is None:
        return "no images"
    if hi < chance:
        return f"worse than {ref}"
    if lo <= chance:
        return f"no better than {ref}"
    return f"better than {ref}"


def _map_block(
    sub: pd.DataFrame, n_boot: int, seed: int, chance: float, normalize: bool
) -> dict[str, Any]:
    """Summary of one map (method or layer × method) over images."""
    infd = sub["infidelity"].to_numpy(dtype=np.float64)
    zero = sub["zero"].to_numpy(dtype=np.float64)
    moved = zero > 0  # an image whose f never moved under the draws has no skill to score
    skill = ratio_skill(infd[moved], zero[moved], n_boot, seed)
    per_image = sub["skill"].to_numpy(dtype=np.float64)[moved]
    modes = sorted(set(sub["mode"].astype(str)))
    functions = sorted(set(sub["scored_function"].astype(str)))
    return {
        "infidelity": summary(infd, n_boot, seed),
        "zero_infidelity": summary(zero, n_boot, seed),
        "skill": skill,
        "skill_per_image_median": float(np.median(per_image)) if len(per_image) else None,
        "chance_skill": chance,
        "no_better_than_empty_map": bool(skill["ci_low"] is not None and skill["ci_low"] <= 0),
        "no_better_than_chance": bool(skill["ci_low"] is not None and skill["ci_low"] <= chance),
        "verdict": _skill_verdict(skill, chance, normalize),
        "map_l2_median": float(sub["map_l2"].median()) if len(sub) else None,
        "mode": modes[0] if len(modes) == 1 else modes,
        "scored_function": functions[0] if len(functions) == 1 else functions,
        "function_mismatch": bool(sub["function_mismatch"].any()),
    }


def _aligned(sub: pd.DataFrame, names: Sequence[str], col: str, by: str) -> dict[str, np.ndarray]:
    """name -> per-image ``col`` over the images every name has (same order)."""
    wide = sub.pivot_table(index="id", columns=by, values=col, aggfunc="first")
    wide = wide[[n for n in names if n in wide.columns]].dropna()
    return {n: wide[n].to_numpy(dtype=np.float64) for n in wide.columns}


def _infidelity_block(
    sub: pd.DataFrame,
    layer_order: Sequence[str],
    chance: float,
    normalize: bool,
    n_boot: int,
    seed: int,
    alpha: float,
) -> dict[str, Any]:
    """The tables of one σ and normalize setting (see :func:`aggregate_infidelity`)."""
    block: dict[str, Any] = {"model": {}, "layer": {}}
    model = sub[sub["level"] == "model"]
    methods = list(dict.fromkeys(model["method"]))
    for m in methods:
        block["model"][m] = _map_block(model[model["method"] == m], n_boot, seed, chance, normalize)
    block["pairwise_model"] = pairwise_tests(
        _aligned(model, methods, "infidelity", "method"), alpha
    )
    layer = sub[sub["level"] == "layer"].copy()
    lmethods = list(dict.fromkeys(layer["method"]))
    for lm in lmethods:
        per = layer[layer["method"] == lm]
        block["layer"][lm] = {
            k: _map_block(per[per["layer"] == k], n_boot, seed, chance, normalize)
            for k in layer_order
            if k in set(per["layer"])
        }
    layer["name"] = layer["method"] + "@" + layer["layer"].astype(str)
    names = [f"{lm}@{k}" for k in layer_order for lm in lmethods]
    pairs = [
        (f"{a}@{k}", f"{b}@{k}")
        for k in layer_order
        for i, a in enumerate(lmethods)
        for b in lmethods[i + 1 :]
    ]
    values = _aligned(layer, names, "infidelity", "name")
    pairs = [p for p in pairs if p[0] in values and p[1] in values]
    block["pairwise_layer"] = pairwise_tests(values, alpha, pairs=pairs)
    overall = layer.groupby(["id", "method"])["infidelity"].mean().unstack().dropna()
    block["pairwise_layer_method_overall"] = pairwise_tests(
        {c: overall[c].to_numpy() for c in lmethods if c in overall.columns},
        alpha,
        what="infidelity averaged over layers",
    )
    return block


def aggregate_infidelity(
    df: pd.DataFrame,
    layer_order: Sequence[str],
    n_perturb_samples: int,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The infidelity tables from per-image rows.

    Args:
        df: long DataFrame, one row per image × σ × normalize × map, columns ``id, sigma,
            normalize, level, method, layer, mode, scored_function, function_mismatch,
            infidelity, zero, skill, map_l2``.
        layer_order: layer names in network order (encoder1 … decoder5).
        n_perturb_samples: draws per σ (sets the normalized chance skill).

    Returns:
        ``{sigma_<σ>: {sigma, unnormalized|normalized: {model: {method: block}, layer:
        {layer_method: {layer: block}}, pairwise_model, pairwise_layer,
        pairwise_layer_method_overall}}}``; pairwise tests compare infidelity per image
        (equivalently skill, the zero score being shared), Wilcoxon + Holm within each family.
    """
    out: dict[str, Any] = {}
    for sigma in sorted(set(df["sigma"])):
        sblock: dict[str, Any] = {"sigma": float(sigma)}
        for normalize in (False, True):
            sub = df[(df["sigma"] == sigma) & (df["normalize"] == normalize)]
            chance = chance_skill(n_perturb_samples, normalize)
            sblock["normalized" if normalize else "unnormalized"] = _infidelity_block(
                sub, layer_order, chance, normalize, n_boot, seed, alpha
            )
        out[sigma_key(float(sigma))] = sblock
    return out


def aggregate_sensitivity(
    df: pd.DataFrame,
    layer_order: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Sensitivity tables from per-image rows (``id, level, method, layer, sensitivity``).

    Returns ``{model: {method: summary}, layer: {layer_method: {layer: summary}},
    pairwise_model}`` (lower = more stable).
    """
    out: dict[str, Any] = {"model": {}, "layer": {}, "pairwise_model": {}}
    if len(df) == 0:
        return out
    model = df[df["level"] == "model"]
    methods = list(dict.fromkeys(model["method"]))
    for m in methods:
        vals = model.loc[model["method"] == m, "sensitivity"].to_numpy(dtype=np.float64)
        out["model"][m] = summary(vals, n_boot, seed)
    out["pairwise_model"] = pairwise_tests(
        _aligned(model, methods, "sensitivity", "method"), alpha, what="sensitivity"
    )
    layer = df[df["level"] == "layer"]
    for lm in dict.fromkeys(layer["method"]):
        per = layer[layer["method"] == lm]
        out["layer"][lm] = {
            k: summary(per.loc[per["layer"] == k, "sensitivity"].to_numpy(np.float64), n_boot, seed)
            for k in layer_order
            if k in set(per["layer"])
        }
    return out


def image_counts(status: pd.Series, n_not_attributed: int, n_evaluated: int) -> dict[str, Any]:
    """How many test images there are, have a border, were scored (from the border statuses)."""
    by_status = status.value_counts().to_dict()
    return {
        "n_images": len(status),
        "n_with_border": int((status == "ok").sum()),
        "n_without_border": int((status != "ok").sum()),
        "without_border_by_status": {str(k): int(v) for k, v in by_status.items() if k != "ok"},
        "n_not_attributed": n_not_attributed,
        "n_evaluated": n_evaluated,
    }


def _sensitivity_section(
    sens: pd.DataFrame, layer_order: Sequence[str], cfg: EvaluateConfig
) -> dict[str, Any]:
    any_rel = sens["recompute_rel_l2"].notna().any()
    functions = {
        r.method if r.level == "model" else f"{r.method}@{r.layer}": r.function
        for r in sens.drop_duplicates(["level", "method", "layer"]).itertuples()
    }
    return {
        "radius": cfg.sensitivity_radius,
        "n_samples": cfg.sensitivity_samples,
        "n_images": int(sens["id"].nunique()) if len(sens) else 0,
        "max_pixels": cfg.recompute_max_pixels,
        "functions": functions,
        "recompute_rel_l2_max": float(sens["recompute_rel_l2"].dropna().max()) if any_rel else None,
        **aggregate_sensitivity(sens, layer_order, cfg.bootstrap, cfg.seed, cfg.alpha),
    }


def fragility_document(
    frag: pd.DataFrame,
    sens: pd.DataFrame,
    layer_order: Sequence[str],
    cfg: EvaluateConfig,
    counts: Mapping[str, Any],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """fragility.json: conventions, image counts, infidelity and sensitivity tables, timings.

    ``seconds`` is kept by reference: entries added later (figures, total) appear in it.
    """
    infidelity = (
        aggregate_infidelity(
            frag, layer_order, cfg.n_perturb_samples, cfg.bootstrap, cfg.seed, cfg.alpha
        )
        if len(frag)
        else {}
    )
    return {
        "function": FUNCTION_DOC,
        "layer_map_convention": LAYER_CONVENTION,
        "perturbation": {
            "kind": "gaussian, I ~ N(0, sigma^2) per input value; perturbed input x - I",
            "sigma": list(cfg.infidelity_sigma),
            "n_perturb_samples": cfg.n_perturb_samples,
            "shared_across_maps": True,
            "seed": cfg.seed,
        },
        **counts,
        "infidelity": infidelity,
        "sensitivity": _sensitivity_section(sens, layer_order, cfg),
        "seconds": seconds,
    }


def regions_document(
    regions: pd.DataFrame,
    layer_order: Sequence[str],
    cfg: EvaluateConfig,
    counts: Mapping[str, Any],
) -> dict[str, Any]:
    """regions.json: the region convention, image counts and the per-map region tables."""
    tables = (
        aggregate_regions(regions, layer_order, cfg.bootstrap, cfg.seed) if len(regions) else {}
    )
    return {"band_width": cfg.band_width, "regions": REGIONS_DOC, **counts, **tables}


def sanity_document(sanity: pd.DataFrame, cfg: EvaluateConfig, seconds: float) -> dict[str, Any]:
    """sanity.json: the test, the functions re-explained and the per-method correlations."""
    return {
        "test": SANITY_DOC,
        "seed": cfg.seed,
        "n_images": int(sanity["id"].nunique()) if len(sanity) else 0,
        "max_pixels": cfg.recompute_max_pixels,
        "functions": (
            dict(zip(sanity["method"], sanity["function"], strict=True)) if len(sanity) else {}
        ),
        "methods": aggregate_sanity(sanity, cfg.bootstrap, cfg.seed) if len(sanity) else {},
        "seconds": seconds,
    }
