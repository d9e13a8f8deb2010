"""Intervals and paired tests over images (pure functions on 1-D arrays).

- :func:`bootstrap_ci`: percentile bootstrap of a statistic over images (seeded).
- :func:`summary`: ``{mean, ci_low, ci_high, n}`` as written to the metrics JSON.
- :func:`ratio_skill`: ``1 − Σ infd / Σ zero`` with a paired bootstrap interval (images resampled
  jointly for both arrays).
- :func:`paired_test` / :func:`pairwise_tests`: Wilcoxon signed-rank over images with Holm's
  correction across the family of pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats as sps


def _as_1d(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite entries")
    return a


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    stat: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` (default: mean) over the entries of ``values``.

    Args:
        values: (n,) per-image values, n >= 1 (n == 1 gives a zero-width interval).
        n_boot: resamples.
        seed: resampling seed.
        level: coverage, e.g. 0.95.
        stat: vectorised statistic, (n_boot, n) -> (n_boot,); default the mean over axis 1.
    """
    a = _as_1d(values)
    if a.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boot = a[idx].mean(axis=1) if stat is None else stat(a[idx])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summary(
    values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """``{mean, ci_low, ci_high, n}`` over images; all null (``None``) when there are none."""
    a = _as_1d(values)
    if a.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    lo, hi = bootstrap_ci(a, n_boot, seed, level)
    return {"mean": float(a.mean()), "ci_low": lo, "ci_high": hi, "n": int(a.size)}


def ratio_skill(
    infd: Sequence[float] | np.ndarray,
    zero: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Skill of a map over images: ``1 − mean(infd) / mean(zero)``, paired bootstrap interval.

    ``zero`` is the all-zero map's score on the same perturbations (``E[Δf²]`` per image). The
    ratio of means weighs images by how much their function moves; it is bounded above by 1 and
    is 0 for a map no better than an empty one. Per-image skills go to the Parquet table.

    Args:
        infd, zero: (n,) per-image scores of the map and of the all-zero map.
    """
    a, z = _as_1d(infd, "infd"), _as_1d(zero, "zero")
    if a.shape != z.shape:
        raise ValueError(f"infd {a.shape} and zero {z.shape} differ")
    if a.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    if not (z > 0).all():
        raise ValueError("zero-map scores must be > 0 (a function that never moves has no skill)")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boot = 1.0 - a[idx].mean(axis=1) / z[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return {
        "mean": float(1.0 - a.mean() / z.mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n": int(a.size),
    }


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = _as_1d(p_values, "p_values")
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of ``a − b`` over paired images.

    Returns ``{n, median_diff, mean_diff, rank_sum_diff, statistic, p_value}``; ``rank_sum_diff``
    is ``W+ − W−`` (positive: ``a`` tends to exceed ``b``); ``p_value`` is 1 when every difference
    is 0 (identical maps) and null when there are no pairs.
    """
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in shape: {x.shape} vs {y.shape}")
    d = x - y
    out: dict[str, Any] = {
        "n": int(d.size),
        "median_diff": float(np.median(d)) if d.size else None,
        "mean_diff": float(d.mean()) if d.size else None,
        "rank_sum_diff": None,
        "statistic": None,
        "p_value": None,
    }
    if d.size == 0:
        return out
    if not np.any(d != 0):
        out["p_value"] = 1.0
        out["rank_sum_diff"] = 0.0
        return out
    nz = d[d != 0]
    ranks = sps.rankdata(np.abs(nz))
    # W+ − W−: its sign is the direction the signed-rank test measures (a > b when positive)
    out["rank_sum_diff"] = float(ranks[nz > 0].sum() - ranks[nz < 0].sum())
    res = sps.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    out["statistic"] = float(res.statistic)
    out["p_value"] = float(res.pvalue)
    return out


def pairwise_tests(
    values: Mapping[str, Sequence[float] | np.ndarray],
    alpha: float = 0.05,
    lower_is_better: bool = True,
    what: str = "infidelity",
    pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Paired tests between named per-image arrays (same images, same order), Holm-corrected.

    Args:
        values: name -> (n,) per-image scores.
        alpha: family-wise error level for the verdict.
        lower_is_better: True for infidelity (lower = more faithful).
        what: the quantity's name, used in the verdict sentence.
        pairs: the family of pairs to test (default: every pair of ``values``).

    Returns:
        ``"<a>_vs_<b>"`` -> ``{a, b, n, median_diff, mean_diff, rank_sum_diff, statistic, p_value,
        p_holm, better, verdict}``; ``better`` is the name that scores better (null: no significant
        difference at ``alpha`` after Holm).
    """
    pairs = list(combinations(list(values), 2)) if pairs is None else list(pairs)
    results = [paired_test(values[a], values[b]) for a, b in pairs]
    raw = [r["p_value"] if r["p_value"] is not None else 1.0 for r in results]
    adj = holm(raw) if pairs else np.empty(0)
    out: dict[str, dict[str, Any]] = {}
    for (a, b), r, p_adj in zip(pairs, results, adj, strict=True):
        better = None
        if r["p_value"] is not None and p_adj < alpha and r["rank_sum_diff"]:
            a_lower = r["rank_sum_diff"] < 0
            better = a if a_lower == lower_is_better else b
        if better is None:
            verdict = f"no significant difference in {what} (Holm p={p_adj:.3g})"
        else:
            verdict = f"{better} is more faithful by {what} (Holm p={p_adj:.3g})"
        out[f"{a}_vs_{b}"] = {
            "a": a,
            "b": b,
            **r,
            "p_holm": float(p_adj) if r["p_value"] is not None else None,
            "better": better,
            "verdict": verdict,
        }
    return out
