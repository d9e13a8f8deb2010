"""What a claim is made of: its inputs, its spec and its verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from seginterp.evaluate.paper import PaperFigures

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"
VERDICTS: tuple[str, ...] = (HELD, NOT_HELD, INCONCLUSIVE)


@dataclass(frozen=True)
class ClaimInputs:
    """What the claims are judged on: the per-image tables of the evaluate stage.

    ``frag``: fragility rows; ``regions``: region rows of the trained model (all scored images);
    ``null``: region rows of the trained and randomized models on the null images;
    ``segmentation``: the test split's per-image ``iou``/``dice`` (None: not available);
    ``methods``, ``layer_methods``: the model-level and layer methods the run explains with (the
    configured ones the model can run): they name the rows of the per-method claims when no image
    can be explained (otherwise the rows follow the methods in ``regions``).
    """

    dataset: str
    paper: PaperFigures | None
    frag: pd.DataFrame
    regions: pd.DataFrame
    null: pd.DataFrame
    segmentation: pd.DataFrame | None
    layer_order: Sequence[str]
    sigma: float
    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0
    methods: Sequence[str] = ()
    layer_methods: Sequence[str] = ()


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


Quoted = str | Callable[[PaperFigures | None], str]
"""A cell that quotes the paper: fixed, or a function of the dataset's figures (None: none)."""

Judge = Callable[[ClaimInputs, str | None], Verdict]
"""(inputs, the method of a per-method claim or None) -> the verdict."""


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of the paper, declared once: the rows of claims.json are made from it.

    ``id`` and ``text`` name the rows; a claim ``per`` method or layer method has one row per
    method, ``<id>/<method>``, with ``{method}`` in ``text`` filled in. ``source``: where the
    paper states it; ``paper_figures``: what the paper reports; ``judge``: the verdict.
    ``explained``: judged on the explained images (without any, its rows say so).
    """

    id: str
    text: str
    source: Quoted
    paper_figures: Quoted
    judge: Judge
    per: Literal["dataset", "method", "layer method"] = "dataset"
    explained: bool = True

    def __post_init__(self) -> None:
        if "/" in self.id or ("{method}" in self.text) != (self.per != "dataset"):
            raise ValueError(f"claim {self.id!r}: a per-method text has {{method}}, no id has /")

    def row(self, paper: PaperFigures | None, method: str | None, v: Verdict) -> dict[str, Any]:
        """One row of the claims table (the claims.json schema)."""
        return {
            "id": self.id if method is None else f"{self.id}/{method}",
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
