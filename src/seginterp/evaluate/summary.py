"""``summary.json`` and ``methods.json``: the few numbers a reader (and ``dvc metrics show``) needs.

Keys are short on purpose: ``dvc metrics show`` prints one column per flattened key, and the
default's summary.json is 197 characters wide (measured: 14 numbers). Per method (short names,
:data:`seginterp.evaluate.paper.SHORT`) at the headline σ (the first ``infidelity_sigma``), the
method's majority-mode row: ``skill`` = the unnormalized ratio of means ``1 − ΣINFD/ΣE[Δf²]``.
methods.json adds per method the mean over images of infidelity (``infd``) and of ``E[Δf²]``
(``zero``) and the normalized skill (``skill_norm``, ratio of means; chance ``1/n``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.evaluate.paper import short

DIGITS = 4  # significant digits kept: more is noise at 20–1000 images


def _r(v: Any) -> Any:
    return float(f"{v:.{DIGITS}g}") if isinstance(v, float) else v


def _method_rows(model: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """method -> its row with the most images (rows ``method[mode]`` split by mode)."""
    best: dict[str, Mapping[str, Any]] = {}
    for name, block in model.items():
        method = name.split("[", 1)[0]
        n = block["infidelity"]["n"]
        if method not in best or n > best[method]["infidelity"]["n"]:
            best[method] = block
    return best


def summary_document(
    segmentation: Mapping[str, Any] | None,
    counts: Mapping[str, Any],
    fragility: Mapping[str, Any],
    claims: Mapping[str, Any],
    sigma_key: str,
    refused: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """summary.json (module doc).

    Args:
        segmentation: ``{mIoU, mDice, n}`` of the test split (means of per-image scores), or None.
        counts: image counts (:func:`seginterp.evaluate.aggregate.image_counts`).
        fragility: fragility.json.
        claims: claims.json.
        sigma_key: the headline σ's key in ``fragility["infidelity"]``.
        refused: configured methods the model cannot run -> why (none: no ``refused`` key).

    Returns:
        ``{test: {mIoU, mDice}, n: {test, scored}, claims: {held, not_held, inconclusive},
        skill: {method: ratio of means}}``; without a scored image, ``why`` instead of ``skill``;
        ``refused: {method: reason}`` (short names) when a configured method was not run.
    """
    seg = segmentation or {}
    c = claims["counts"]
    out: dict[str, Any] = {
        "test": {"mIoU": _r(seg.get("mIoU")), "mDice": _r(seg.get("mDice"))},
        "n": {"test": counts["n_images"], "scored": counts["n_evaluated"]},
        "claims": {"held": c["held"], "not_held": c["not held"], "inconclusive": c["inconclusive"]},
    }
    block = fragility.get("infidelity", {}).get(sigma_key)
    if block:
        out["skill"] = _per_method(block["unnormalized"]["model"], "skill_ratio_of_means")
    elif counts["n_evaluated"] == 0:
        by_status = counts.get("without_border_by_status") or {}
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))
        out["why"] = "no test prediction has a border" + (f" ({detail})" if detail else "")
    if refused:
        out["refused"] = {short(m): refused[m] for m in sorted(refused)}
    return out


def methods_document(fragility: Mapping[str, Any], sigma_key: str) -> dict[str, Any]:
    """methods.json: ``{sigma, infd, zero, skill, skill_norm}``, each ``{method: value}`` (module
    doc); only ``sigma`` (null) without scored images."""
    block = fragility.get("infidelity", {}).get(sigma_key)
    if not block:
        return {"sigma": None}
    u, n = block["unnormalized"]["model"], block["normalized"]["model"]
    return {
        "sigma": block["sigma"],
        "infd": _per_method(u, "infidelity"),
        "zero": _per_method(u, "zero_infidelity"),
        "skill": _per_method(u, "skill_ratio_of_means"),
        "skill_norm": _per_method(n, "skill_ratio_of_means"),
    }


def _per_method(model: Mapping[str, Any], stat: str) -> dict[str, Any]:
    """short method name -> the statistic's value of the method's majority-mode row."""
    key = "ratio_of_means" if stat == "skill_ratio_of_means" else "mean"
    return {short(m): _r(b[stat][key]) for m, b in _method_rows(model).items()}
