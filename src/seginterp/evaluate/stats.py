"""Intervals and paired tests over images (pure functions on 1-D arrays).

- :func:`bootstrap_ci`: percentile bootstrap of a statistic over images (seeded).
- :func:`summary` / :func:`median_summary`: ``{mean|median, ci_low, ci_high, n}`` as written to
  the metrics JSON; no interval from fewer than :data:`MIN_CI_VALUES` values.
- :func:`ratio_skill`: the ratio of means ``1 − Σ infd / Σ zero`` with a paired bootstrap
  interval (images resampled jointly for both arrays).
- :func:`paired_test` / :func:`paired_family`: Wilcoxon signed-rank over
  images with Holm's correction across the family of pairs; a pair with too few images for its
  exact test to ever reach ``alpha`` says so instead of "no difference".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

MIN_CI_VALUES = 3
"""Fewer values than this give no interval: a bootstrap of 2 values only returns them."""


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
    """``{mean, ci_low, ci_high, n}`` over images; all null (``None``) when there are none.

    With fewer than :data:`MIN_CI_VALUES` values the interval is null and ``note`` says why.
    """
    return _summary(values, "mean", n_boot, seed, level)


def median_summary(
    values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """``{median, ci_low, ci_high, n}`` over images (bootstrap of the median), as
    :func:`summary`."""
    return _summary(values, "median", n_boot, seed, level)


def _summary(
    values: Sequence[float] | np.ndarray, name: str, n_boot: int, seed: int, level: float
) -> dict[str, Any]:
    a = _as_1d(values)
    if a.size == 0:
        return {name: None, "ci_low": None, "ci_high": None, "n": 0}
    center = float(a.mean()) if name == "mean" else float(np.median(a))
    if a.size < MIN_CI_VALUES:
        return _without_interval(name, center, int(a.size))
    stat = None if name == "mean" else (lambda b: np.median(b, axis=1))
    lo, hi = bootstrap_ci(a, n_boot, seed, level, stat=stat)
    return {name: center, "ci_low": lo, "ci_high": hi, "n": int(a.size)}


def _without_interval(name: str, value: float, n: int) -> dict[str, Any]:
    """The summary of fewer than :data:`MIN_CI_VALUES` values: no interval, a note why."""
    note = f"too few values for an interval (n={n} < {MIN_CI_VALUES})"
    return {name: value, "ci_low": None, "ci_high": None, "n": n, "note": note}


def ratio_skill(
    infd: Sequence[float] | np.ndarray,
    zero: Sequence[float] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Skill as a ratio of means over images: ``1 − Σ infd / Σ zero``, paired bootstrap interval.

    ``zero`` is the all-zero map's score on the same perturbations (``E[Δf²]`` per image). The
    ratio weighs images by how much their function moves (it is not the mean of per-image
    skills); it is bounded above by 1 and is 0 for a map no better than an empty one.

    Args:
        infd, zero: (n,) per-image scores of the map and of the all-zero map.

    Returns:
        ``{ratio_of_means, ci_low, ci_high, n}``; no interval from fewer than
        :data:`MIN_CI_VALUES` images.
    """
    a, z = _as_1d(infd, "infd"), _as_1d(zero, "zero")
    if a.shape != z.shape:
        raise ValueError(f"infd {a.shape} and zero {z.shape} differ")
    if a.size == 0:
        return {"ratio_of_means": None, "ci_low": None, "ci_high": None, "n": 0}
    if not (z > 0).all():
        raise ValueError("zero-map scores must be > 0 (a function that never moves has no skill)")
    value = float(1.0 - a.mean() / z.mean())
    if a.size < MIN_CI_VALUES:
        return _without_interval("ratio_of_means", value, int(a.size))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boot = 1.0 - a[idx].mean(axis=1) / z[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return {"ratio_of_means": value, "ci_low": float(lo), "ci_high": float(hi), "n": int(a.size)}


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

    Returns ``{n, n_nonzero, n_higher, median_diff, mean_diff, rank_sum_diff, statistic,
    p_value, min_p_value}``; ``n_higher``: the images where ``a > b``; ``rank_sum_diff`` is
    ``W+ − W−`` (positive: ``a`` tends to exceed ``b``);
    ``p_value`` is 1 when every difference is 0 (identical maps) and null when there are no
    pairs; ``min_p_value`` is the smallest p-value an exact test of ``n_nonzero`` differences can
    give, ``2 / 2^n_nonzero`` (every difference of one sign; ``n`` when every difference is 0):
    ``n_nonzero`` < 6 can never reach 0.05.
    """
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in shape: {x.shape} vs {y.shape}")
    d = x - y
    nz = d[d != 0]
    out: dict[str, Any] = {
        "n": int(d.size),
        "n_nonzero": int(nz.size),
        "n_higher": int((nz > 0).sum()),
        "median_diff": float(np.median(d)) if d.size else None,
        "mean_diff": float(d.mean()) if d.size else None,
        "rank_sum_diff": None,
        "statistic": None,
        "p_value": None,
        # identical maps (every difference 0) are as testable as their image count
        "min_p_value": min(1.0, 2.0 / 2.0 ** int(nz.size or d.size)),
    }
    if d.size == 0:
        return out
    if nz.size == 0:
        out["p_value"] = 1.0
        out["rank_sum_diff"] = 0.0
        return out
    ranks = sps.rankdata(np.abs(nz))
    # W+ − W−: its sign is the direction the signed-rank test measures (a > b when positive)
    out["rank_sum_diff"] = float(ranks[nz > 0].sum() - ranks[nz < 0].sum())
    res = sps.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    out["statistic"] = float(res.statistic)
    out["p_value"] = float(res.pvalue)
    return out


@dataclass(frozen=True)
class PairSpec:
    """One pair of a test family: names, their per-image values (same images, same order), what
    the values are (``what``, used in the verdict) and whether lower is better."""

    a: str
    b: str
    x: np.ndarray
    y: np.ndarray
    what: str = "infidelity"
    lower_is_better: bool = True
    basis: str | None = None


def paired_family(specs: Sequence[PairSpec], alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """Paired tests of a family of pairs, Holm-corrected together.

    Returns ``"<a>_vs_<b>"`` -> ``{a, b, basis, what, lower_is_better, n, n_nonzero, n_higher,
    median_diff, mean_diff, rank_sum_diff, statistic, p_value, min_p_value, p_holm, testable,
    better, verdict}``.
    ``testable`` is False when the pair's exact test cannot reach ``alpha``
    (``min_p_value >= alpha``) or no pair of the family can survive Holm (``m · min_p >= alpha``
    for every pair); the verdict then says "too few images to test", never "no difference".
    ``better`` is the better name (null: no significant difference, or not testable).
    """
    results = [paired_test(s.x, s.y) for s in specs]
    raw = [r["p_value"] if r["p_value"] is not None else 1.0 for r in results]
    adj = holm(raw) if specs else np.empty(0)
    m = len(specs)
    family_ok = any(m * r["min_p_value"] < alpha for r in results)
    out: dict[str, dict[str, Any]] = {}
    for s, r, p_adj in zip(specs, results, adj, strict=True):
        testable = bool(r["min_p_value"] < alpha and family_ok)
        better = None
        if testable and r["p_value"] is not None and p_adj < alpha and r["rank_sum_diff"]:
            a_lower = r["rank_sum_diff"] < 0
            better = s.a if a_lower == s.lower_is_better else s.b
        if not testable:
            holm_note = f", Holm over {m} pairs" if r["min_p_value"] < alpha else ""
            verdict = (
                f"too few images to test (n={r['n_nonzero']} non-zero differences: the exact "
                f"test's smallest p is {r['min_p_value']:.3g}{holm_note}; alpha={alpha:g})"
            )
        elif better is None:
            verdict = f"no significant difference in {s.what} (Holm p={p_adj:.3g})"
        else:
            verdict = f"{better} is better by {s.what} (Holm p={p_adj:.3g})"
        out[f"{s.a}_vs_{s.b}"] = {
            "a": s.a,
            "b": s.b,
            "basis": s.basis or s.what,
            "what": s.what,
            "lower_is_better": s.lower_is_better,
            **r,
            "p_holm": float(p_adj) if r["p_value"] is not None else None,
            "testable": testable,
            "better": better,
            "verdict": verdict,
        }
    return out
