"""The results tables of replicate models (one per training seed, the same test split) pooled
into one: the table the pooled documents and verdicts are rendered from.

One row per row identity (kind, key, stat, test family and pair) that every replicate has, in the
first replicate's order; a row some replicate lacks is left out of the pool (it stays in the
replicates' own tables), except the image counts (section ``images``), where a missing row counts
0. With one replicate the table is returned unchanged.

- **Estimates with an interval** (``mean``, ``median``, ``ratio_of_means``): the mean of the
  replicates' estimates with an interval of two parts (:func:`pooled_interval`): the training
  run, from the spread of the R estimates (Student t with R − 1 degrees of freedom: with 3
  models a bootstrap over models would only return their range), and the images, the average
  of the replicates' own half-widths, not reduced by averaging since the models are scored on
  one test split (their image errors taken as fully correlated: the conservative case; each
  model scores the images its own prediction gives a border, so the sets can differ a little).
  ``n``: the sum (image-model pairs). No interval when a replicate has none. The rank
  statistics (``kendall_w``, ``kendall_tau``) pool the same way, their interval clipped to the
  values they can take (:data:`~seginterp.evaluate.results.table.STAT_RANGE`).
- **Points**: counts (:func:`is_count`) summed, maxima (``*_max``) the largest, other values
  averaged; a note (e.g. the layer a value belongs to) kept when the replicates agree on it.
- **Tests**: the intersection-union test (Berger 1982) of "in every training run": a difference
  is significant in the pool when it is significant in every replicate, in the same direction;
  ``p_value``, ``p_holm`` and ``min_p_value`` are the largest replicate's (the IUT p-value, a
  valid level for each hypothesis whatever the dependence between the replicates; over a Holm
  family the error rate is bounded per replicate). When replicates are significant in opposite
  directions, p is 1 and the verdict says so. Differences averaged, counts summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from seginterp.evaluate.results.table import (
    KEY_COLUMNS,
    REPLICATES_MAX,
    STAT_RANGE,
    TEST,
    Results,
    Row,
    frame,
)

LEVEL = 0.95
Z = float(sps.norm.ppf(0.5 + LEVEL / 2))
COUNT_QUANTITIES = frozenset({"n", "scored_function", "function"})
"""Point quantities that count images without an ``n`` in their name."""
IMAGES = "images"
"""The section of the image counts (:mod:`seginterp.evaluate.results.run`)."""


def is_count(quantity: str) -> bool:
    """Whether a point row of ``quantity`` counts images (summed over replicates)."""
    q = quantity
    return q in COUNT_QUANTITIES or q.startswith("n_") or q.endswith("_n") or "_n_" in q


def identity(row: Row) -> tuple[Any, ...]:
    """What makes a row the same row in two replicates' tables."""
    return (row["kind"], *(row[c] for c in KEY_COLUMNS), row["stat"], row["family"], row["a"],
            row["b"])  # fmt: skip


def pool_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The pooled results table of the replicates' ``tables`` (module doc)."""
    if not tables:
        raise ValueError("pool_tables: no replicate table")
    if len(tables) == 1:
        return tables[0].copy()
    replicates = [{identity(r): r for r in Results(t).rows()} for t in tables]
    order = dict.fromkeys(i for rep in replicates for i in rep)
    out: list[Row] = []
    for ident in order:
        rows = [rep.get(ident) for rep in replicates]
        first = next(r for r in rows if r is not None)
        if first["section"] == IMAGES and first["stat"] == "point":
            out.append(pool_point([r or {**first, "estimate": 0.0, "n": None} for r in rows]))
        elif any(r is None for r in rows):
            continue
        elif first["kind"] == TEST:
            out.append(pool_test(rows))
        elif first["stat"] == "point":
            out.append(pool_point(rows))
        else:
            out.append(pool_estimate(rows))
    return frame(out)


def _n(rows: Sequence[Row], column: str = "n") -> int | None:
    values = [r[column] for r in rows]
    return None if any(v is None for v in values) else int(sum(values))


def pool_point(rows: Sequence[Row]) -> Row:
    """A point row over replicates (module doc; None: any is None)."""
    values = [r["estimate"] for r in rows]
    notes = list(dict.fromkeys(r["note"] for r in rows))
    note = (
        notes[0] if len(notes) == 1 else f"differs between replicates: {', '.join(map(str, notes))}"
    )
    out = {**rows[0], "n": _n(rows), "note": note}
    if any(v is None for v in values):
        return {**out, "estimate": None}
    q = rows[0]["quantity"]
    pooled = sum(values) if is_count(q) else max(values) if q.endswith("_max") else np.mean(values)
    return {**out, "estimate": float(pooled)}


def pool_estimate(rows: Sequence[Row]) -> Row:
    """An estimate over replicates: the mean of theirs with :func:`pooled_interval`."""
    out = {**rows[0], "n": _n(rows), "note": None}
    kept = [r for r in rows if r["estimate"] is not None]
    if not kept:
        return {**out, "estimate": None, "ci_low": None, "ci_high": None}
    if len(kept) < len(rows):
        out["note"] = f"on {len(kept)} of {len(rows)} replicates (the others have no value)"
    est = np.asarray([r["estimate"] for r in kept], dtype=np.float64)
    out["estimate"] = float(est.mean())
    lo, hi = [r["ci_low"] for r in kept], [r["ci_high"] for r in kept]
    if len(kept) < 2 or any(v is None for v in (*lo, *hi)):
        note = "no interval: a replicate has none" if len(kept) > 1 else "no interval: one model"
        return {**out, "ci_low": None, "ci_high": None, "note": note}
    low, high = pooled_interval(est, np.asarray(lo), np.asarray(hi))
    if rows[0]["stat"] in STAT_RANGE:  # a rank statistic: the interval within its range
        bottom, top = STAT_RANGE[rows[0]["stat"]]
        low, high = max(low, bottom), min(high, top)
    out["ci_low"], out["ci_high"] = low, high
    return out


def pooled_interval(
    est: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float = LEVEL
) -> tuple[float, float]:
    """The interval of the mean over R >= 2 replicates (module doc): below the mean
    ``sqrt(T² + D²)``, above it ``sqrt(T² + U²)``, with ``T = t_{R−1} · sd(est) / √R`` (the
    training run) and ``D``, ``U`` the replicates' mean distances from their estimate to their
    own ``lo`` and ``hi`` (the images), each rescaled from 95 % to ``level``.

    Args:
        est, lo, hi: (R,) each replicate's estimate and 95 % interval over images.
    """
    if not (est.shape == lo.shape == hi.shape) or est.ndim != 1 or est.size < 2:
        raise ValueError(f"pooled_interval: shapes {est.shape}, {lo.shape}, {hi.shape} (R >= 2)")
    r = est.size
    t = float(sps.t.ppf(0.5 + level / 2, r - 1)) * float(est.std(ddof=1)) / np.sqrt(r)
    scale = float(sps.norm.ppf(0.5 + level / 2)) / Z
    down, up = scale * float((est - lo).mean()), scale * float((hi - est).mean())
    m = float(est.mean())
    return m - float(np.hypot(t, down)), m + float(np.hypot(t, up))


def pool_test(rows: Sequence[Row]) -> Row:
    """A paired test over replicates: the intersection-union test (module doc)."""
    first, k = rows[0], len(rows)
    found = [r["better"] for r in rows]
    both_ways = len({b for b in found if b is not None}) > 1
    common = found[0] if len(set(found)) == 1 else None
    p = [r["p_holm"] for r in rows]
    raw = [r["p_value"] for r in rows]
    testable = all(bool(r["testable"]) for r in rows)
    out = {
        **first,
        "stat": REPLICATES_MAX,
        "n": _n(rows),
        "n_nonzero": _n(rows, "n_nonzero"),
        "n_higher": _n(rows, "n_higher"),
        "statistic": None,
        "p_value": None if any(v is None for v in raw) else 1.0 if both_ways else max(raw),
        "min_p_value": max(r["min_p_value"] for r in rows),
        "p_holm": None if any(v is None for v in p) else 1.0 if both_ways else max(p),
        "testable": testable,
        "better": common,
    }
    for c in ("median_diff", "mean_diff", "rank_sum_diff"):
        v = [r[c] for r in rows]
        out[c] = None if any(x is None for x in v) else float(np.mean(v))
    largest = "" if out["p_holm"] is None else f"; largest Holm p={out['p_holm']:.3g}"
    said = ", ".join(b or "none" for b in found)
    if not testable:
        n_not = sum(not r["testable"] for r in rows)
        verdict = f"too few images to test in {n_not} of {k} replicates"
    elif both_ways:
        verdict = f"directions differ between the replicates (better: {said})"
    elif common is not None:
        verdict = f"{common} is better by {first['what']} in all {k} replicates{largest}"
    else:
        verdict = f"not significant in every replicate (better: {said}{largest})"
    return {**out, "verdict": verdict}
