"""``summary.json`` and ``methods.json``: the few numbers a reader (and ``dvc metrics show``) needs.

Keys are short on purpose: ``dvc metrics show`` prints one column per flattened key, and the
default's summary.json is 197 characters wide (measured: 14 numbers). Per method (short names,
:data:`seginterp.evaluate.paper.SHORT`) at the headline σ (the first ``infidelity_sigma``), the
method's majority-mode row (the row with the most images): ``skill`` = the unnormalized ratio of
means ``1 − ΣINFD/ΣE[Δf²]``. methods.json adds per method the mean over images of infidelity
(``infd``) and of ``E[Δf²]`` (``zero``) and the normalized skill (``skill_norm``, ratio of means;
chance ``1/n``). Both are views of the results table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.evaluate.paper import short
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.table import Key, Results, key_of

DIGITS = 4  # significant digits kept: more is noise at 20–1000 images


def _r(v: Any) -> Any:
    return float(f"{v:.{DIGITS}g}") if isinstance(v, float) else v


def _method_rows(res: Results, sigma: float, normalize: bool) -> dict[str, Key]:
    """method -> the key of its model-level row with the most images (rows ``method[mode]`` are
    split by mode; ties: the first)."""
    best: dict[str, tuple[int, Key]] = {}
    for r in res.select(section="infidelity", level="model", sigma=sigma, normalize=normalize,
                        quantity="infidelity", stat="mean"):  # fmt: skip
        if r["method"] not in best or r["n"] > best[r["method"]][0]:
            best[r["method"]] = (r["n"], key_of(r))
    return {m: k for m, (_, k) in best.items()}


def _per_method(res: Results, sigma: float, normalize: bool, quantity: str) -> dict[str, Any]:
    """short method name -> the estimate of ``quantity`` of the method's majority-mode row."""
    stat = "ratio_of_means" if quantity == "skill" else "mean"
    out = {}
    for m, key in _method_rows(res, sigma, normalize).items():
        row = res.get(key.but(quantity=quantity), stat)
        out[short(m)] = _r(None if row is None else row["estimate"])
    return out


def _n(counts: Mapping[str, Any], models: int) -> dict[str, int]:
    if models <= 1:
        return {"test": counts["n_images"], "scored": counts["n_evaluated"]}
    return {"models": models, "scored": counts["n_evaluated"]}


def summary_document(res: Results, ctx: Context, claims: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json (module doc).

    Args:
        res: the results table.
        ctx: the evaluation's counts, σ and refused methods.
        claims: claims.json (its ``counts``).

    Returns:
        ``{test: {mIoU, mDice}, n: {test, scored}, claims: {held, not_held, inconclusive},
        skill: {method: ratio of means}}`` (pooled over replicate models, ``claims`` has
        ``seeds``: ``n`` is ``{models, scored}``, the scored image-model pairs, and every
        estimate the mean over the models);
        without a scored image, ``why`` instead of ``skill``;
        ``refused: {method: reason}`` (short names) when a configured method was not run.
    """
    seg = {name: res.get(Key("segmentation", quantity=q), "mean")
           for name, q in (("mIoU", "iou"), ("mDice", "dice"))}  # fmt: skip
    c, counts = claims["counts"], ctx.counts
    out: dict[str, Any] = {
        "test": {k: _r(None if r is None else r["estimate"]) for k, r in seg.items()},
        "n": _n(counts, len(claims.get("seeds", []))),
        "claims": {"held": c["held"], "not_held": c["not held"], "inconclusive": c["inconclusive"]},
    }
    skill = _per_method(res, ctx.sigma, False, "skill")
    if skill:
        out["skill"] = skill
    elif counts["n_evaluated"] == 0:
        by_status = counts.get("without_border_by_status") or {}
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))
        out["why"] = "no test prediction has a border" + (f" ({detail})" if detail else "")
    if ctx.refused:
        out["refused"] = {short(m): ctx.refused[m] for m in sorted(ctx.refused)}
    return out


def methods_document(res: Results, ctx: Context) -> dict[str, Any]:
    """methods.json: ``{sigma, infd, zero, skill, skill_norm}``, each ``{method: value}`` (module
    doc); only ``sigma`` (null) without scored images."""
    if not _method_rows(res, ctx.sigma, False):
        return {"sigma": None}
    return {
        "sigma": ctx.sigma,
        "infd": _per_method(res, ctx.sigma, False, "infidelity"),
        "zero": _per_method(res, ctx.sigma, False, "zero_infidelity"),
        "skill": _per_method(res, ctx.sigma, False, "skill"),
        "skill_norm": _per_method(res, ctx.sigma, True, "skill"),
    }
