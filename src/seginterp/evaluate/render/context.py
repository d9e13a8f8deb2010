"""What the documents need besides the results table: names, settings and image counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.paper import PaperFigures
from seginterp.evaluate.results import run as facts
from seginterp.evaluate.results.table import Results
from seginterp.explain.config import AttributeConfig


@dataclass(frozen=True)
class Context:
    """One evaluation's settings for the documents.

    ``paper``: the paper's figures the claims quote (None: none); ``counts``:
    :func:`seginterp.evaluate.results.run.image_counts`; ``layer_order``: layer names in network
    order; ``refused``: configured methods the model cannot run -> why; ``methods``,
    ``layer_methods``: the methods the run explains with.
    """

    dataset: str
    paper: PaperFigures | None
    cfg: EvaluateConfig
    counts: Mapping[str, Any]
    layer_order: Sequence[str]
    refused: Mapping[str, str] = field(default_factory=dict)
    methods: Sequence[str] = ()
    layer_methods: Sequence[str] = ()

    @property
    def sigma(self) -> float:
        """The headline σ (the first of ``evaluate.infidelity_sigma``)."""
        return self.cfg.infidelity_sigma[0]


def context_of(
    res: Results,
    dataset: str,
    paper: PaperFigures | None,
    cfg: EvaluateConfig,
    acfg: AttributeConfig,
) -> Context:
    """The context of a results table (of one evaluation, or pooled): its image counts, layer
    order and refused methods, with the run's settings."""
    return Context(dataset, paper, cfg, facts.counts(res), facts.layer_order(res),
                   facts.refused(res), acfg.methods, acfg.layer_methods)  # fmt: skip
