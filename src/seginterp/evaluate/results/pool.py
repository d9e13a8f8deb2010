"""The results tables of replicate models (one per training seed, same test images) pooled into
one: the table the pooled documents and verdicts are rendered from.

One row per row identity (kind, key, stat, test family and pair) that every replicate has, in the
first replicate's order; a row some replicate lacks is left out of the pool (it stays in the
replicates' own tables). With one replicate the table is returned unchanged.

- **Estimates with an interval** (``mean``, ``median``, ``ratio_of_means``): the mean of the
  replicates' estimates, with a two-level percentile interval. Each of ``n_boot`` resamples draws
  R replicates with replacement (the training run) and moves each drawn replicate's estimate
  along its own bootstrap interval by one standard normal deviate ``z`` shared by the drawn
  replicates (the images: every replicate is scored on the same test images, so their
  image-sampling errors are taken as fully correlated, the conservative choice; a split normal
  with ``(ci_high − est) / 1.96`` above and ``(est − ci_low) / 1.96`` below). ``n``: the sum
  (image-model pairs). No interval when a replicate has none.
- **Points**: counts (:func:`is_count`) summed, other values averaged.
- **Tests**: the intersection-union test (Berger 1982) of "in every training run": a difference
  is significant in the pool when it is significant in every replicate, in the same direction.
  ``p_value``, ``p_holm`` and ``min_p_value`` are the largest replicate's, ``better`` the
  replicates' common one (else null), differences averaged, counts summed; valid whatever the
  dependence between the replicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.results.table import KEY_COLUMNS, TEST, Results, Row, frame

Z95 = 1.959963984540054
COUNT_QUANTITIES = frozenset({"n", "scored_function", "function"})
"""Point quantities that count images without an ``n`` in their name."""


def is_count(quantity: str) -> bool:
    """Whether a point row of ``quantity`` counts images (summed over replicates)."""
    q = quantity
    return q in COUNT_QUANTITIES or q.startswith("n_") or q.endswith("_n") or "_n_" in q


def identity(row: Row) -> tuple[Any, ...]:
    """What makes a row the same row in two replicates' tables."""
    return (row["kind"], *(row[c] for c in KEY_COLUMNS), row["stat"], row["family"], row["a"],
            row["b"])  # fmt: skip


def pool_tables(tables: Sequence[pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """The pooled results table of the replicates' ``tables`` (module doc)."""
    if not tables:
        raise ValueError("pool_tables: no replicate table")
    if len(tables) == 1:
        return tables[0].copy()
    replicates = [{identity(r): r for r in Results(t).rows()} for t in tables]
    out: list[Row] = []
    for ident, first in replicates[0].items():
        rows = [rep.get(ident) for rep in replicates]
        if any(r is None for r in rows):
            continue
        if first["kind"] == TEST:
            out.append(pool_test(rows))
        elif first["stat"] == "point":
            out.append(pool_point(rows))
        else:
            out.append(pool_estimate(rows, n_boot, seed))
    return frame(out)


def _n(rows: Sequence[Row], column: str = "n") -> int | None:
    values = [r[column] for r in rows]
    return None if any(v is None for v in values) else int(sum(values))


def pool_point(rows: Sequence[Row]) -> Row:
    """A point row over replicates: counts summed, other values averaged (None: any is None)."""
    values = [r["estimate"] for r in rows]
    out = {**rows[0], "n": _n(rows)}
    if any(v is None for v in values):
        return {**out, "estimate": None}
    pooled = sum(values) if is_count(rows[0]["quantity"]) else float(np.mean(values))
    return {**out, "estimate": float(pooled)}


def pool_estimate(rows: Sequence[Row], n_boot: int, seed: int) -> Row:
    """An estimate over replicates: the mean of theirs with the two-level interval (module doc)."""
    est = [r["estimate"] for r in rows]
    out = {**rows[0], "n": _n(rows), "note": None}
    if any(e is None for e in est):
        kept = [r for r in rows if r["estimate"] is not None]
        if not kept:
            return {**out, "estimate": None, "ci_low": None, "ci_high": None}
        rows = kept
        est = [r["estimate"] for r in rows]
        out["note"] = f"on {len(rows)} replicates (the others have no value)"
    e = np.asarray(est, dtype=np.float64)
    out["estimate"] = float(e.mean())
    lo = [r["ci_low"] for r in rows]
    hi = [r["ci_high"] for r in rows]
    if any(v is None for v in (*lo, *hi)):
        note = "no interval: a replicate has none"
        return {**out, "ci_low": None, "ci_high": None, "note": note}
    out["ci_low"], out["ci_high"] = two_level_interval(e, np.asarray(lo), np.asarray(hi), n_boot,
                                                       seed)  # fmt: skip
    return out


def two_level_interval(
    est: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean over replicates (module doc).

    Args:
        est, lo, hi: (R,) each replicate's estimate and 95 % interval over images.
        n_boot: resamples; seed: their seed; level: coverage.
    """
    if not (est.shape == lo.shape == hi.shape) or est.ndim != 1 or est.size == 0:
        raise ValueError(f"two_level_interval: shapes {est.shape}, {lo.shape}, {hi.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, est.size, size=(n_boot, est.size))
    z = rng.standard_normal((n_boot, 1))
    up, down = (hi - est) / Z95, (est - lo) / Z95
    draws = est[idx] + np.where(z > 0, z * up[idx], z * down[idx])
    q = (1 - level) / 2
    a, b = np.quantile(draws.mean(axis=1), [q, 1 - q])
    return float(a), float(b)


def pool_test(rows: Sequence[Row]) -> Row:
    """A paired test over replicates: the intersection-union test (module doc)."""
    first, k = rows[0], len(rows)
    better = {r["better"] for r in rows}
    common = better.pop() if len(better) == 1 else None
    p = [r["p_holm"] for r in rows]
    p_holm = None if any(v is None for v in p) else max(p)
    raw = [r["p_value"] for r in rows]
    testable = all(bool(r["testable"]) for r in rows)
    out = {
        **first,
        "n": _n(rows),
        "n_nonzero": _n(rows, "n_nonzero"),
        "statistic": None,
        "p_value": None if any(v is None for v in raw) else max(raw),
        "min_p_value": max(r["min_p_value"] for r in rows),
        "p_holm": p_holm,
        "testable": testable,
        "better": common,
    }
    for c in ("median_diff", "mean_diff", "rank_sum_diff"):
        v = [r[c] for r in rows]
        out[c] = None if any(x is None for x in v) else float(np.mean(v))
    largest = "" if p_holm is None else f"; largest Holm p={p_holm:.3g}"
    if not testable:
        n_not = sum(not r["testable"] for r in rows)
        verdict = f"too few images to test in {n_not} of {k} replicates"
    elif common is not None:
        verdict = f"{common} is better by {first['what']} in all {k} replicates{largest}"
    else:
        found = ", ".join(r["better"] or "none" for r in rows)
        verdict = f"no difference in {first['what']} in every replicate (better: {found}{largest})"
    return {**out, "verdict": verdict}
