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
from seginterp.evaluate.infidelity_tables import (
    TINY_RMS_RATIO,
    aggregate_infidelity,
    layer_ranking,
    sigma_key,
)
from seginterp.evaluate.layer_infidelity import ACTIVATION, CONVENTIONS
from seginterp.evaluate.null import aggregate_null
from seginterp.evaluate.regions import aggregate_regions
from seginterp.evaluate.sanity import SANITY_RHO, aggregate_sanity
from seginterp.evaluate.stats import MIN_CI_VALUES, pairwise_tests, summary

__all__ = ["fragility_document", "image_counts", "regions_document", "sanity_document", "sigma_key"]

FUNCTION_DOC = (
    "f(x) = mean over the frozen border B of the logits z_q(x) (B from the unperturbed "
    "prediction); a sampled(K) map is scored against the mean over its own K pixels"
)
STATISTICS = {
    "infidelity": "mean over images of the per-image infidelity, 95% percentile bootstrap",
    "zero_infidelity": "mean over images of the all-zero map's score E[df^2]",
    "skill_ratio_of_means": "1 - sum INFD / sum E[df^2] over images (images weighted by E[df^2])",
    "skill_per_image_mean": "mean over images of 1 - INFD/E[df^2]",
    "skill_per_image_median": "median over images of 1 - INFD/E[df^2]",
    "intervals": f"null (with a note) when fewer than {MIN_CI_VALUES} values",
    "rows": "one row per map and mode; a method with several modes gets rows <method>[<mode>]",
    "pairs": "Wilcoxon + Holm per family, on infidelity when both maps were scored against the "
    "same function on every image, else on skill (basis of each pair); 'too few images to test' "
    "when the exact test cannot reach alpha",
    "verdicts": "unnormalized: better/worse than/no better than an empty map, or 'tiny map' when "
    f"the median rms<Phi,I>/rms(df) < {TINY_RMS_RATIO:g} (skill ~ 0 whatever the pattern); "
    "normalized: better/worse than chance, or 'no information' at chance (1/n_perturb_samples)",
}
REGIONS_DOC = (
    "band = border dilated by band_width px (4-connected); inside = prediction "
    "minus band; outside = rest; model maps summed over channels"
)
SANITY_DOC = (
    "Spearman rank correlation over pixels between the channel-summed map of the "
    "trained model and of the same architecture re-initialized (seeded); same border; verdict on "
    f"the rank correlation of |maps| against {SANITY_RHO:g}, 'too few images' below "
    f"{MIN_CI_VALUES} images"
)


def _aligned(sub: pd.DataFrame, names: Sequence[str], col: str, by: str) -> dict[str, np.ndarray]:
    """name -> per-image ``col`` over the images every name has (same order)."""
    wide = sub.pivot_table(index="id", columns=by, values=col, aggfunc="first")
    wide = wide[[n for n in names if n in wide.columns]].dropna()
    return {n: wide[n].to_numpy(dtype=np.float64) for n in wide.columns}


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
) -> dict[str, Any]:
    """fragility.json: conventions, image counts, infidelity and sensitivity tables."""
    infidelity = (
        aggregate_infidelity(
            frag, layer_order, cfg.n_perturb_samples, cfg.bootstrap, cfg.seed, cfg.alpha
        )
        if len(frag)
        else {}
    )
    ranking = {k: layer_ranking(v["unnormalized"]) for k, v in infidelity.items()}
    return {
        "function": FUNCTION_DOC,
        "statistics": STATISTICS,
        "layer_conventions": CONVENTIONS,
        "layer": f"'layer' blocks are in the {ACTIVATION} convention (resolution-independent); "
        "'layer_paper_bilinear' blocks are the paper's",
        "layer_ranking": ranking,
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
    }


def regions_document(
    regions: pd.DataFrame,
    null: pd.DataFrame,
    layer_order: Sequence[str],
    cfg: EvaluateConfig,
    counts: Mapping[str, Any],
) -> dict[str, Any]:
    """regions.json: the region convention, image counts, the per-map region tables and the
    randomized-weights null (``null``, :func:`seginterp.evaluate.null.aggregate_null`)."""
    tables = (
        aggregate_regions(regions, layer_order, cfg.bootstrap, cfg.seed) if len(regions) else {}
    )
    return {
        "band_width": cfg.band_width,
        "regions": REGIONS_DOC,
        **counts,
        **tables,
        "null": aggregate_null(null, layer_order, cfg.bootstrap, cfg.seed, cfg.alpha),
    }


def sanity_document(sanity: pd.DataFrame, cfg: EvaluateConfig) -> dict[str, Any]:
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
    }
