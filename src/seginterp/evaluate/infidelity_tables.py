"""The infidelity tables of fragility.json, from the per-image fragility rows.

Summary rows never mix modes: a method whose images have several modes (e.g. ``sampled(32)`` on
most images, ``exact`` on one whose border has ≤ 32 pixels) gets one row per mode, named
``<method>[<mode>]`` (:func:`row_names`). Every statistic is named for what it is: the mean over
images of infidelity and of ``E[Δf²]``, the skill as a ratio of means ``1 − ΣINFD/ΣE[Δf²]``, and
the per-image mean and median of skill. Paired tests compare two rows on infidelity only when
both were scored against the same function on every image; otherwise on skill, each map against
its own zero-map baseline; each pair records its ``basis``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.infidelity import chance_skill
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR
from seginterp.evaluate.stats import PairSpec, median_summary, paired_family, ratio_skill, summary

TINY_RMS_RATIO = 0.01
"""A map is *tiny* when its median ``rms⟨Φ,I⟩ / rms Δf`` is below this: its unnormalized skill
is then within ±0.0201 of 0 whatever its pattern (``|skill| ≤ 2r + r²``)."""

BASIS_INFIDELITY = "infidelity (both maps scored against the same function on every image)"
BASIS_SKILL = "skill (each map against its own zero-map baseline: their functions differ)"


def sigma_key(sigma: float) -> str:
    """JSON key of a σ without dots (DVC flattens metric keys with dots): 0.03 -> ``sigma_0p03``."""
    return "sigma_" + f"{sigma:g}".replace(".", "p").replace("-", "m")


def row_names(df: pd.DataFrame) -> pd.Series:
    """The summary row of each fragility row: ``method`` (``method@layer`` for layer maps), or
    ``<that>[<mode>]`` when the map has several modes across images."""
    base = df["method"].where(df["level"] == "model", df["method"] + "@" + df["layer"].astype(str))
    n_modes = df.groupby(base)["mode"].transform("nunique")
    return base.where(n_modes <= 1, base + "[" + df["mode"].astype(str) + "]")


def _verdict(skill: dict[str, Any], chance: float, normalize: bool, tiny: bool) -> str:
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


def map_block(sub: pd.DataFrame, n_boot: int, seed: int, chance: float, normalize: bool) -> dict:
    """Summary of one row (one map, one mode) over images."""
    infd = sub["infidelity"].to_numpy(dtype=np.float64)
    zero = sub["zero"].to_numpy(dtype=np.float64)
    moved = zero > 0  # an image whose f never moved under the draws has no skill to score
    skill = ratio_skill(infd[moved], zero[moved], n_boot, seed)
    per_image = sub["skill"].to_numpy(dtype=np.float64)[moved]
    ratio = float(sub["proj_rms_ratio"].median()) if len(sub) else None
    tiny = bool(ratio is not None and ratio < TINY_RMS_RATIO)
    functions = sorted(set(sub["scored_function"].astype(str)))
    return {
        "mode": str(sub["mode"].iloc[0]) if len(sub) else None,
        "scored_function": functions[0] if len(functions) == 1 else functions,
        "function_mismatch": bool(sub["function_mismatch"].any()),
        "infidelity": summary(infd, n_boot, seed),
        "zero_infidelity": summary(zero, n_boot, seed),
        "skill_ratio_of_means": skill,
        "skill_per_image_mean": summary(per_image, n_boot, seed),
        "skill_per_image_median": median_summary(per_image, n_boot, seed),
        "chance_skill": chance,
        "map_l2_median": float(sub["map_l2"].median()) if len(sub) else None,
        "proj_rms_ratio_median": ratio,
        "tiny_map": tiny,
        "verdict": _verdict(skill, chance, normalize, tiny),
    }


def pair_spec(sub: pd.DataFrame, a: str, b: str) -> PairSpec | None:
    """The paired comparison of rows ``a`` and ``b`` over their common images, on infidelity when
    every common image scored both against the same function, else on skill; None without
    common images."""
    wide = sub[sub["row"].isin([a, b])].pivot_table(
        index="id",
        columns="row",
        values=["infidelity", "skill", "scored_function"],
        aggfunc="first",
    )
    if a not in wide["infidelity"].columns or b not in wide["infidelity"].columns:
        return None
    wide = wide.dropna()
    if not len(wide):
        return None
    fa, fb = wide["scored_function"][a].astype(str), wide["scored_function"][b].astype(str)
    if (fa == fb).all():
        x, y = wide["infidelity"][a], wide["infidelity"][b]
        return PairSpec(
            a,
            b,
            x.to_numpy(np.float64),
            y.to_numpy(np.float64),
            "infidelity",
            True,
            BASIS_INFIDELITY,
        )
    x, y = wide["skill"][a], wide["skill"][b]
    return PairSpec(
        a, b, x.to_numpy(np.float64), y.to_numpy(np.float64), "skill", False, BASIS_SKILL
    )


def _family(sub: pd.DataFrame, pairs: Sequence[tuple[str, str]], alpha: float) -> dict:
    specs = [s for a, b in pairs if (s := pair_spec(sub, a, b)) is not None]
    return paired_family(specs, alpha)


def _layer_tables(
    layer: pd.DataFrame, layer_order: Sequence[str], args: tuple, alpha: float
) -> tuple[dict, dict]:
    """``{method: {layer (or layer[mode]): block}}`` in network order, and the family of
    between-method pairs at each layer."""
    tables: dict[str, dict[str, Any]] = {}
    at_layer: dict[str, dict[str, list[str]]] = {}  # layer -> method -> rows
    for k in layer_order:
        here = layer[layer["layer"] == k]
        for lm in dict.fromkeys(here["method"]):
            for r in dict.fromkeys(here.loc[here["method"] == lm, "row"]):
                tables.setdefault(lm, {})[r.split("@", 1)[1]] = map_block(
                    here[here["row"] == r], *args
                )
                at_layer.setdefault(k, {}).setdefault(lm, []).append(r)
    pairs = []
    for per in at_layer.values():
        methods = list(per)
        for i, m1 in enumerate(methods):
            for m2 in methods[i + 1 :]:
                pairs += [(a, b) for a in per[m1] for b in per[m2]]
    return tables, _family(layer, pairs, alpha)


def _block(
    sub: pd.DataFrame,
    layer_order: Sequence[str],
    chance: float,
    normalize: bool,
    n_boot: int,
    seed: int,
    alpha: float,
) -> dict[str, Any]:
    """The tables of one σ and normalize setting (see :func:`aggregate_infidelity`)."""
    sub = sub.assign(row=row_names(sub))
    args = (n_boot, seed, chance, normalize)
    model = sub[sub["level"] == "model"]
    rows = list(dict.fromkeys(model["row"]))
    block: dict[str, Any] = {
        "model": {r: map_block(model[model["row"] == r], *args) for r in rows},
    }
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    block["pairwise_model"] = _family(model, pairs, alpha)
    for conv, suffix in ((ACTIVATION, ""), (PAPER_BILINEAR, f"_{PAPER_BILINEAR}")):
        layer = sub[(sub["level"] == "layer") & (sub["convention"] == conv)]
        layer = layer.assign(row=row_names(layer))
        block[f"layer{suffix}"], block[f"pairwise_layer{suffix}"] = _layer_tables(
            layer, layer_order, args, alpha
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
        df: the fragility table (:func:`seginterp.evaluate.scoring.infidelity_rows`).
        layer_order: layer names in network order (encoder1 … decoder5).
        n_perturb_samples: draws per σ (sets the normalized chance skill).

    Returns:
        ``{sigma_<σ>: {sigma, unnormalized|normalized: {model: {row: block}, pairwise_model,
        layer: {method: {layer: block}}, pairwise_layer, layer_paper_bilinear: …,
        pairwise_layer_paper_bilinear: …}}}``: ``layer`` in activation space (resolution-
        independent), ``layer_paper_bilinear`` under the paper's convention; Wilcoxon + Holm
        within each family (:func:`pair_spec` for the basis of each pair).
    """
    out: dict[str, Any] = {}
    for sigma in sorted(set(df["sigma"])):
        sblock: dict[str, Any] = {"sigma": float(sigma)}
        for normalize in (False, True):
            sub = df[(df["sigma"] == sigma) & (df["normalize"] == normalize)]
            chance = chance_skill(n_perturb_samples, normalize)
            sblock["normalized" if normalize else "unnormalized"] = _block(
                sub, layer_order, chance, normalize, n_boot, seed, alpha
            )
        out[sigma_key(float(sigma))] = sblock
    return out


def layer_ranking(block: dict[str, Any]) -> dict[str, Any]:
    """Does the ranking of layers by skill (ratio of means) change between the two conventions?

    Args:
        block: one σ's ``unnormalized`` block of :func:`aggregate_infidelity`.

    Returns:
        per layer method ``{activation: [layers best first], paper_bilinear: [...], spearman,
        changed}``, and per layer ``better_method`` under each convention.
    """
    from scipy.stats import spearmanr

    out: dict[str, Any] = {"by_method": {}, "better_method_per_layer": {}}
    for method, per in block["layer"].items():
        paper = block[f"layer_{PAPER_BILINEAR}"].get(method, {})
        common = [k for k in per if k in paper]
        act = {k: per[k]["skill_ratio_of_means"]["ratio_of_means"] for k in common}
        pap = {k: paper[k]["skill_ratio_of_means"]["ratio_of_means"] for k in common}
        rho = float(spearmanr(list(act.values()), list(pap.values())).statistic)
        order_a = sorted(common, key=lambda k: -act[k])
        order_p = sorted(common, key=lambda k: -pap[k])
        out["by_method"][method] = {
            ACTIVATION: order_a,
            PAPER_BILINEAR: order_p,
            "spearman": rho if len(common) > 2 and np.isfinite(rho) else None,
            "changed": order_a != order_p,
        }
    for conv, key in ((ACTIVATION, "layer"), (PAPER_BILINEAR, f"layer_{PAPER_BILINEAR}")):
        for method, per in block[key].items():
            for k, b in per.items():
                best = out["better_method_per_layer"].setdefault(k, {}).setdefault(conv, {})
                best[method] = b["skill_ratio_of_means"]["ratio_of_means"]
    for k, convs in out["better_method_per_layer"].items():
        winners = {
            c: max(v, key=lambda m: -np.inf if v[m] is None else v[m]) for c, v in convs.items()
        }
        out["better_method_per_layer"][k] = {**winners, "changed": len(set(winners.values())) > 1}
    return out


def plot_view(frag: dict[str, Any]) -> dict[str, Any]:
    """The part of fragility.json the per-layer plot tables read, under the keys they read:
    layer blocks of the activation convention, ``skill`` = the ratio of means."""
    view: dict[str, Any] = {"sensitivity": frag.get("sensitivity", {}), "infidelity": {}}
    for sk, sblock in frag["infidelity"].items():
        view["infidelity"][sk] = {
            setting: {
                "layer": {
                    m: {
                        k: {**b, "skill": {"mean": b["skill_ratio_of_means"]["ratio_of_means"]}}
                        for k, b in per.items()
                    }
                    for m, per in sblock[setting]["layer"].items()
                }
            }
            for setting in ("unnormalized", "normalized")
        }
    return view
