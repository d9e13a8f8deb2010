"""The results table: every estimate and every test of the evaluate stage, one row each.

One long table (``data/<D>/evaluation/results.parquet``) holds two kinds of rows:

- ``estimate``: one statistic (``stat``: ``mean``, ``median`` or ``ratio_of_means`` with a 95 %
  percentile-bootstrap interval over images; ``kendall_w`` or ``kendall_tau`` of rankings with
  theirs (:mod:`.agreement`); ``point`` for a value without an interval: a count, a maximum, a
  median of a diagnostic) of one ``quantity``;
- ``test``: one paired Wilcoxon signed-rank test of a ``family`` of tests, Holm-adjusted within
  the family (:func:`seginterp.evaluate.stats.paired_family`).

The key columns (:class:`Key`) say what a row is about; a key that does not apply is null. This
module is the only one that calls the interval and test functions of
:mod:`seginterp.evaluate.stats`; the documents (:mod:`seginterp.evaluate.render`) read rows back
with :class:`Results` and compute nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.stats import PairSpec, median_summary, paired_family, ratio_skill, summary

ESTIMATE, TEST = "estimate", "test"
STATS: tuple[str, ...] = ("mean", "median", "ratio_of_means", "kendall_w", "kendall_tau", "point")
"""An estimate's statistic; all but ``point`` have a bootstrap interval (from 3 images)."""
STAT_RANGE: dict[str, tuple[float, float]] = {"kendall_w": (0.0, 1.0), "kendall_tau": (-1.0, 1.0)}
"""The values a rank statistic can take: a pooled interval is clipped to them."""
HOLM, REPLICATES_MAX = "holm", "replicates_max"
"""A test's ``p_holm``: Holm-adjusted within its family over images; or, pooled
(:mod:`seginterp.evaluate.results.pool`), the largest of the replicates' Holm-adjusted p."""


@dataclass(frozen=True)
class Key:
    """What a row is about. ``section``: the part of the evaluation (``infidelity``,
    ``sensitivity``, ``regions``, ``localisation``, ``complexity``, ``deletion``,
    ``regions_null``, ``sanity``, ``segmentation``, ``claim``);
    ``quantity``: the per-image column or derived quantity; ``name``: the row's name in its
    table (e.g. ``saliency[exact]``, ``gradcam@encoder1``); the rest: the map and setting."""

    section: str
    quantity: str = ""
    level: str | None = None
    method: str | None = None
    layer: str | None = None
    name: str | None = None
    mode: str | None = None
    sigma: float | None = None
    normalize: bool | None = None
    convention: str | None = None
    weights: str | None = None
    function: str | None = None

    def but(self, **changes: Any) -> Key:
        """This key with some fields changed."""
        return replace(self, **changes)


KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Key))
COLUMNS: dict[str, str] = {
    "kind": "string",
    **{k: "string" for k in KEY_COLUMNS},
    "sigma": "float64",
    "normalize": "boolean",
    "stat": "string",
    "estimate": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "n": "Int64",
    "note": "string",
    "family": "string",
    "a": "string",
    "b": "string",
    "what": "string",
    "basis": "string",
    "lower_is_better": "boolean",
    "n_nonzero": "Int64",
    "n_higher": "Int64",
    "median_diff": "float64",
    "mean_diff": "float64",
    "rank_sum_diff": "float64",
    "statistic": "float64",
    "p_value": "float64",
    "min_p_value": "float64",
    "p_holm": "float64",
    "testable": "boolean",
    "better": "string",
    "verdict": "string",
}
"""The results.parquet schema: column -> pandas dtype (nullable: a column that does not apply to a
row is null)."""

Row = dict[str, Any]


def key_of(row: Row) -> Key:
    """The key of a row read back from the table (:meth:`Results.select`)."""
    return Key(**{c: row[c] for c in KEY_COLUMNS})


def _key(key: Key) -> Row:
    return dict(zip(KEY_COLUMNS, astuple(key), strict=True))


def _estimate_row(key: Key, stat: str, s: Row) -> Row:
    center = s["mean" if stat == "mean" else stat]
    row = {"kind": ESTIMATE, **_key(key), "stat": stat, "estimate": center}
    return {**row, "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"],
            "note": s.get("note")}  # fmt: skip


def estimate(key: Key, values: np.ndarray, stat: str, n_boot: int, seed: int) -> Row:
    """The ``mean`` or ``median`` of ``values`` (n,) over images with its bootstrap interval."""
    if stat == "mean":
        return _estimate_row(key, stat, summary(values, n_boot, seed))
    if stat == "median":
        return _estimate_row(key, stat, median_summary(values, n_boot, seed))
    raise ValueError(f"estimate: stat must be 'mean' or 'median', got {stat!r}")


def ratio(key: Key, infd: np.ndarray, zero: np.ndarray, n_boot: int, seed: int) -> Row:
    """The ratio of means ``1 − Σ infd / Σ zero`` (skill) with its paired bootstrap interval."""
    return _estimate_row(key, "ratio_of_means", ratio_skill(infd, zero, n_boot, seed))


def statistic(
    key: Key, stat: str, value: float | None, lo: float | None, hi: float | None, n: int,
    note: str | None = None,
) -> Row:  # fmt: skip
    """A statistic ``stat`` (one of :data:`STATS`) computed elsewhere, with its interval."""
    if stat not in STATS or stat == "point":
        raise ValueError(f"statistic: stat must be one of {STATS[:-1]}, got {stat!r}")
    return _estimate_row(key, stat, {stat: value, "ci_low": lo, "ci_high": hi, "n": n,
                                     "note": note})  # fmt: skip


def point(key: Key, value: float | None, n: int | None = None) -> Row:
    """A value without an interval (a count, a maximum, a diagnostic median); null: none."""
    return {"kind": ESTIMATE, **_key(key), "stat": "point", "estimate": value, "n": n}


def tests(key: Key, family: str, specs: Sequence[PairSpec], alpha: float) -> list[Row]:
    """The rows of one family of paired tests, Holm-adjusted together (``key``: the family's
    setting; each row's ``quantity`` is its spec's ``what``)."""
    out = []
    for r in paired_family(specs, alpha).values():
        row = {"kind": TEST, **_key(key.but(quantity=r["what"])), "stat": HOLM, "family": family}
        out.append({**row, **{c: r[c] for c in _TEST_FIELDS}})
    return out


_TEST_FIELDS: tuple[str, ...] = (
    "a", "b", "basis", "what", "lower_is_better", "n", "n_nonzero", "n_higher", "median_diff",
    "mean_diff", "rank_sum_diff", "statistic", "p_value", "min_p_value", "p_holm", "testable",
    "better", "verdict",
)  # fmt: skip
"""A test row's fields, in the order of :func:`seginterp.evaluate.stats.paired_family`."""


def frame(rows: Iterable[Row]) -> pd.DataFrame:
    """The results table of ``rows`` (in order) with the :data:`COLUMNS` schema."""
    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    return df.astype(COLUMNS)


def _none(v: Any) -> Any:
    """A cell as JSON: null for a missing value, Python scalars otherwise."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


class Results:
    """Read access to a results table (:func:`frame`): rows by exact key, in table order."""

    def __init__(self, df: pd.DataFrame) -> None:
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"not a results table: columns {missing} are missing")
        self.df = df.reset_index(drop=True)
        self._records = [
            {c: _none(v) for c, v in zip(df.columns, values, strict=True)}
            for values in df.itertuples(index=False, name=None)
        ]
        self._index: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(self._records):
            k = (r["kind"], *(r[c] for c in KEY_COLUMNS), r["stat"], r["family"])
            self._index.setdefault(k, []).append(i)

    def rows(self) -> list[Row]:
        """Every row, as JSON-ready dicts, in table order."""
        return list(self._records)

    def select(self, kind: str = ESTIMATE, **where: Any) -> list[Row]:
        """The rows (as JSON-ready dicts, in table order) whose columns equal ``where``."""
        return [
            r for r in self._records
            if r["kind"] == kind and all(r[c] == v for c, v in where.items())
        ]  # fmt: skip

    def get(self, key: Key, stat: str) -> Row | None:
        """The estimate of ``key`` and ``stat`` (one of :data:`STATS`), or None."""
        if stat not in STATS:
            raise ValueError(f"results: stat must be one of {STATS}, got {stat!r}")
        hits = self._index.get((ESTIMATE, *astuple(key), stat, None), [])
        if len(hits) > 1:
            raise ValueError(f"results: {len(hits)} estimates of {key} ({stat})")
        return self._records[hits[0]] if hits else None

    def summary(self, key: Key, stat: str = "mean") -> Row:
        """An estimate as the metrics JSON writes it: ``{<stat>, ci_low, ci_high, n[, note]}``
        (``<stat>``: mean, median or ratio_of_means)."""
        r = self.get(key, stat)
        if r is None:
            raise KeyError(f"results: no {stat} estimate of {key}")
        out = {stat: r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"]}
        return out if r["note"] is None else {**out, "note": r["note"]}

    def value(self, key: Key) -> Any:
        """The value of a ``point`` estimate (None when absent)."""
        r = self.get(key, "point")
        return None if r is None else r["estimate"]

    def family(self, key: Key, family: str) -> dict[str, Row]:
        """The tests of one family at ``key``'s setting (any quantity), as ``"<a>_vs_<b>"`` ->
        the test's fields (:func:`seginterp.evaluate.stats.paired_family`'s order)."""
        where = {c: v for c, v in _key(key).items() if c != "quantity"}
        rows = self.select(TEST, family=family, **where)
        return {f"{r['a']}_vs_{r['b']}": {c: r[c] for c in ("stat", *_TEST_FIELDS)} for r in rows}
