"""What a claim is made of: its spec (the rows it adds to the results table and how its verdict
is read from them), its keys and its verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from seginterp.evaluate.paper import PAPER_LAYER_METHODS, PAPER_METHODS, PaperFigures
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, Row, point

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE)
SECTION = "claim"
PAPER_GROUP, BEYOND = "paper", "beyond the paper"
"""The groups of claims rows: on the paper's methods (counted in its tally), or on methods the
paper did not use (:data:`seginterp.evaluate.paper.PAPER_METHODS`; reported apart)."""


@dataclass(frozen=True)
class Verdict:
    """A claim's result on one subject: our figure, the number of images, the verdict, why."""

    ours: str
    n: int
    verdict: str
    why: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def inconclusive(why: str) -> Verdict:
    """No figure of ours, no image: inconclusive for ``why``."""
    return Verdict("—", 0, INCONCLUSIVE, why)


def row_id(claim: str, method: str | None) -> str:
    """The id of a claim's row: ``<claim>``, or ``<claim>/<method>`` for a per-method claim."""
    return claim if method is None else f"{claim}/{method}"


def claim_key(claim: str, method: str | None) -> Key:
    """The key of a claim's rows on one subject (``name``: the row id; ``method``: the subject)."""
    return Key(SECTION, name=row_id(claim, method), method=method)


def count(key: Key, n: int) -> Row:
    """The number of images a claim's verdict is on (point ``n`` at ``key``)."""
    return point(key.but(quantity="n"), n)


def cannot_judge(key: Key, why: str) -> Row:
    """The row saying why a claim cannot be judged (its judge is then inconclusive for ``why``)."""
    return {**point(key.but(quantity="inconclusive"), None), "note": why}


def n_of(res: Results, key: Key) -> int:
    """The :func:`count` recorded at ``key``."""
    n = res.value(key.but(quantity="n"))
    if n is None:
        raise ValueError(f"results: no image count of claim {key.name!r}: build the claim rows")
    return int(n)


def why_not(res: Results, key: Key) -> str | None:
    """The :func:`cannot_judge` reason recorded at ``key`` (None: the claim can be judged)."""
    r = res.get(key.but(quantity="inconclusive"), "point")
    return None if r is None else r["note"]


Quoted = str | Callable[[PaperFigures | None], str]
"""A cell that quotes the paper: fixed, or a function of the dataset's figures (None: none)."""

Tests = Callable[[Measured, str | None], list[Row]]
"""(per-image tables, the method of a per-method claim or None) -> the claim's results rows."""

Judge = Callable[[Results, Context, str | None], Verdict]
"""(results table, settings, the method or None) -> the verdict, read from the rows."""


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of the paper, declared once: the rows of claims.json are made from it.

    ``id`` and ``text`` name the rows; a claim ``per`` method or layer method has one row per
    method, ``<id>/<method>``, with ``{method}`` in ``text`` filled in. ``source``: where the
    paper states it; ``paper_figures``: what the paper reports; ``tests``: the claim's estimates
    and tests on one subject (results rows at :func:`claim_key`, or :func:`cannot_judge`);
    ``judge``: the verdict, read from those rows (and rows of other sections), computing nothing.
    ``explained``: judged on the explained images (without any, its rows say so).
    ``beyond``: a claim the paper does not make (its rows are reported apart, :data:`BEYOND`).
    """

    id: str
    text: str
    source: Quoted
    paper_figures: Quoted
    tests: Tests
    judge: Judge
    per: Literal["dataset", "method", "layer method"] = "dataset"
    explained: bool = True
    beyond: bool = False

    def __post_init__(self) -> None:
        if "/" in self.id or ("{method}" in self.text) != (self.per != "dataset"):
            raise ValueError(f"claim {self.id!r}: a per-method text has {{method}}, no id has /")

    def verdict(self, res: Results, ctx: Context, subject: str | None) -> Verdict:
        """The judge's verdict on ``subject``, or inconclusive for the reason its tests recorded
        when they could not be run (:func:`cannot_judge`)."""
        why = why_not(res, claim_key(self.id, subject))
        return self.judge(res, ctx, subject) if why is None else inconclusive(why)

    def group(self, method: str | None) -> str:
        """:data:`PAPER_GROUP` for a paper's claim on the dataset or on a method the paper used,
        else :data:`BEYOND`."""
        if self.beyond:
            return BEYOND
        used = PAPER_METHODS if self.per == "method" else PAPER_LAYER_METHODS
        return PAPER_GROUP if method is None or method in used else BEYOND

    def row(self, paper: PaperFigures | None, method: str | None, v: Verdict) -> dict[str, Any]:
        """One row of the claims table (the claims.json schema)."""
        return {
            "id": row_id(self.id, method),
            "group": self.group(method),
            "claim": self.text if method is None else self.text.format(method=method),
            "source": _quote(self.source, paper),
            "paper": _quote(self.paper_figures, paper),
            "ours": v.ours,
            "n": int(v.n),
            "verdict": v.verdict,
            "why": v.why,
        }


def _quote(cell: Quoted, paper: PaperFigures | None) -> str:
    return cell if isinstance(cell, str) else cell(paper)
