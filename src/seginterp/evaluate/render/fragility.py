"""fragility.json: the infidelity and sensitivity tables as a view of the results table.

The rows come from :mod:`seginterp.evaluate.results.infidelity` and
:mod:`seginterp.evaluate.results.sensitivity` (their module docs give the keys). This module
only selects them, names them (``<method>``, ``<method>[<mode>]``, ``<layer>``), orders the
layers by skill, picks the better layer method per layer and writes the verdict sentences; the
image counts and the settings come from the :class:`Context`.
"""

from __future__ import annotations

from typing import Any

from seginterp.evaluate.layer_infidelity import ACTIVATION, CONVENTIONS, PAPER_BILINEAR
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.infidelity import SPEARMAN, TINY_RMS_RATIO, sigma_key
from seginterp.evaluate.results.table import KEY_COLUMNS, Key, Results, Row, key_of
from seginterp.evaluate.stats import MIN_CI_VALUES

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
    "ceiling_skill_ratio_of_means": "activation space: the skill of the layer's channel-summed "
    "gradient of f on the same draws, ratio of means (the gradient reference: the best score to "
    "first order in sigma, not a bound)",
    "intervals": f"null (with a note) when fewer than {MIN_CI_VALUES} values",
    "rows": "one row per map and mode; a method with several modes gets rows <method>[<mode>]",
    "pairs": "Wilcoxon + Holm per family, on infidelity when both maps were scored against the "
    "same function on every image, else on skill (basis of each pair); 'too few images to test' "
    "when the exact test cannot reach alpha",
    "layer_ranking": "layers ordered by normalized skill (ratio of means; unchanged when a "
    "layer's units are rescaled, unlike the unnormalized skill) under each convention",
    "verdicts": "unnormalized: better/worse than/no better than an empty map, or 'tiny map' when "
    f"the median rms<Phi,I>/rms(df) < {TINY_RMS_RATIO:g} (skill ~ 0 whatever the pattern); "
    "normalized: better/worse than chance, or 'no information' at chance (1/n_perturb_samples)",
}
PERTURBATION = "gaussian, I ~ N(0, sigma^2) per input value; perturbed input x - I"
LAYER_DOC = (
    f"'layer' blocks are in the {ACTIVATION} convention (resolution-independent); "
    "'layer_paper_bilinear' blocks are the paper's"
)
SUFFIX = {ACTIVATION: "", PAPER_BILINEAR: f"_{PAPER_BILINEAR}"}
"""Convention -> suffix of its ``layer`` and ``pairwise_layer`` keys."""


def _verdict(skill: Row, chance: float, normalize: bool, tiny: bool) -> str:
    lo, hi, n = skill["ci_low"], skill["ci_high"], skill["n"]
    if n == 0:
        return "no images"
    if lo is None:
        return f"too few images for an interval (n={n})"
    if normalize:
        ref = f"chance (1/n_perturb_samples = {chance:.3g})"
        if lo > chance:
            return f"better than {ref}"
        if hi < chance:
            return f"worse than {ref}"
        return f"no information: skill at {ref}"
    if lo > 0:
        return "better than an empty map"
    if hi < 0:
        return "worse than an empty map"
    if tiny:
        return (
            "tiny map: skill ~ 0 because the map is near zero (projections < "
            f"{TINY_RMS_RATIO:g} x the change of f), not evidence it explains nothing: "
            "see the normalized skill"
        )
    return "no better than an empty map"


def _ceiling(res: Results, key: Key) -> dict[str, Any]:
    ceiling = key.but(quantity="ceiling_skill")
    if res.get(ceiling, "ratio_of_means") is None:
        return {}
    return {"ceiling_skill_ratio_of_means": res.summary(ceiling, "ratio_of_means")}


def map_block(res: Results, key: Key, chance: float) -> dict[str, Any]:
    """The summary of one map row (``key``: any of its estimates) over images."""
    at = {c: getattr(key, c) for c in KEY_COLUMNS if c not in ("quantity", "function")}
    functions = sorted(r["function"] for r in res.select(quantity="scored_function", **at))
    skill = res.summary(key.but(quantity="skill"), "ratio_of_means")
    ratio = res.value(key.but(quantity="proj_rms_ratio_median"))
    tiny = bool(ratio is not None and ratio < TINY_RMS_RATIO)
    per_image = key.but(quantity="skill_per_image")
    return {
        "mode": key.mode,
        "scored_function": functions[0] if len(functions) == 1 else functions,
        "function_mismatch": bool(res.value(key.but(quantity="function_mismatch"))),
        "infidelity": res.summary(key.but(quantity="infidelity")),
        "zero_infidelity": res.summary(key.but(quantity="zero_infidelity")),
        "skill_ratio_of_means": skill,
        "skill_per_image_mean": res.summary(per_image, "mean"),
        "skill_per_image_median": res.summary(per_image, "median"),
        **_ceiling(res, key),
        "chance_skill": chance,
        "map_l2_median": res.value(key.but(quantity="map_l2_median")),
        "proj_rms_ratio_median": ratio,
        "tiny_map": tiny,
        "verdict": _verdict(skill, chance, bool(key.normalize), tiny),
    }


def _maps(res: Results, **where: Any) -> list[Key]:
    """The keys of the map rows at ``where``, in table order."""
    rows = res.select(section="infidelity", quantity="infidelity", stat="mean", **where)
    return [key_of(r) for r in rows]


def _block(res: Results, sigma: float, normalize: bool, chance: float) -> dict[str, Any]:
    """The tables of one σ and normalize setting: model rows, their pairs, and per convention
    ``{layer method: {layer (or layer[mode]): block}}`` in network order and their pairs."""
    family = Key("infidelity", level="model", sigma=sigma, normalize=normalize)
    at = {"sigma": sigma, "normalize": normalize}
    block: dict[str, Any] = {
        "model": {k.name: map_block(res, k, chance) for k in _maps(res, level="model", **at)},
        "pairwise_model": res.family(family, "pairwise"),
    }
    for conv, suffix in SUFFIX.items():
        tables: dict[str, dict[str, Any]] = {}
        for k in _maps(res, level="layer", convention=conv, **at):
            tables.setdefault(str(k.method), {})[str(k.name).split("@", 1)[1]] = map_block(
                res, k, chance
            )
        block[f"layer{suffix}"] = tables
        block[f"pairwise_layer{suffix}"] = res.family(
            family.but(level="layer", convention=conv), "pairwise"
        )
    return block


def layer_ranking(res: Results, block: dict[str, Any], sigma: float) -> dict[str, Any]:
    """Does the ranking of layers by normalized skill (ratio of means; scale-free: rescaling a
    layer's units moves the unnormalized skill) change between the two conventions?

    Args:
        res: the results table (Spearman's ρ of each layer method).
        block: one σ's ``normalized`` block of :func:`_block`.

    Returns:
        per layer method ``{activation: [layers best first], paper_bilinear: [...], spearman,
        changed}``, and per layer ``better_method`` under each convention.
    """
    out: dict[str, Any] = {"by_method": {}, "better_method_per_layer": {}}
    for method, per in block["layer"].items():
        paper = block[f"layer_{PAPER_BILINEAR}"].get(method, {})
        common = [k for k in per if k in paper]
        act = {k: per[k]["skill_ratio_of_means"]["ratio_of_means"] for k in common}
        pap = {k: paper[k]["skill_ratio_of_means"]["ratio_of_means"] for k in common}
        order_a = sorted(common, key=lambda k: -act[k])
        order_p = sorted(common, key=lambda k: -pap[k])
        rho = Key("infidelity", SPEARMAN, "layer", method, sigma=sigma, normalize=True)
        out["by_method"][method] = {
            ACTIVATION: order_a,
            PAPER_BILINEAR: order_p,
            "spearman": res.value(rho),
            "changed": order_a != order_p,
        }
    for conv, suffix in SUFFIX.items():
        for method, per in block[f"layer{suffix}"].items():
            for k, b in per.items():
                best = out["better_method_per_layer"].setdefault(k, {}).setdefault(conv, {})
                best[method] = b["skill_ratio_of_means"]["ratio_of_means"]
    for k, convs in out["better_method_per_layer"].items():
        winners = {
            c: max(v, key=lambda m: -float("inf") if v[m] is None else v[m])
            for c, v in convs.items()
        }
        out["better_method_per_layer"][k] = {**winners, "changed": len(set(winners.values())) > 1}
    return out


def infidelity_tables(res: Results) -> dict[str, Any]:
    """``{sigma_<σ>: {sigma, unnormalized|normalized: block}}`` (σ ascending, as the table)."""
    sigmas = dict.fromkeys(
        r["sigma"] for r in res.select(section="infidelity") if r["sigma"] is not None
    )
    out: dict[str, Any] = {}
    for s in sigmas:
        out[sigma_key(s)] = {"sigma": s}
        for normalize in (False, True):
            chance = res.value(Key("infidelity", "chance_skill", sigma=s, normalize=normalize))
            setting = "normalized" if normalize else "unnormalized"
            out[sigma_key(s)][setting] = _block(res, s, normalize, chance)
    return out


def sensitivity_section(res: Results, ctx: Context) -> dict[str, Any]:
    """The sensitivity tables: settings, image count, functions, recompute check, per-map
    means and the pairs of model methods."""
    functions = {
        r["method"] if r["level"] == "model" else f"{r['method']}@{r['layer']}": r["function"]
        for r in res.select(section="sensitivity", quantity="function", stat="point")
    }
    layer: dict[str, dict[str, Any]] = {}
    at = {"section": "sensitivity", "quantity": "sensitivity", "stat": "mean"}
    for r in res.select(level="layer", **at):
        layer.setdefault(r["method"], {})[r["layer"]] = res.summary(key_of(r))
    n_images = res.value(Key("sensitivity", "n_images"))
    return {
        "radius": ctx.cfg.sensitivity_radius,
        "n_samples": ctx.cfg.sensitivity_samples,
        "n_images": 0 if n_images is None else int(n_images),
        "max_pixels": ctx.cfg.recompute_max_pixels,
        "functions": functions,
        "recompute_rel_l2_max": res.value(Key("sensitivity", "recompute_rel_l2_max")),
        "model": {r["method"]: res.summary(key_of(r)) for r in res.select(level="model", **at)},
        "layer": layer,
        "pairwise_model": res.family(Key("sensitivity", level="model"), "pairwise"),
    }


def fragility_document(res: Results, ctx: Context) -> dict[str, Any]:
    """fragility.json: conventions, image counts, infidelity and sensitivity tables."""
    infidelity = infidelity_tables(res)
    ranking = {k: layer_ranking(res, v["normalized"], v["sigma"]) for k, v in infidelity.items()}
    return {
        "function": FUNCTION_DOC,
        "statistics": STATISTICS,
        "layer_conventions": CONVENTIONS,
        "layer": LAYER_DOC,
        "layer_ranking": ranking,
        "perturbation": {
            "kind": PERTURBATION,
            "sigma": list(ctx.cfg.infidelity_sigma),
            "n_perturb_samples": ctx.cfg.n_perturb_samples,
            "shared_across_maps": True,
            "seed": ctx.cfg.seed,
        },
        **ctx.counts,
        "infidelity": infidelity,
        "sensitivity": sensitivity_section(res, ctx),
    }
