"""What the documents need besides the results table: names, settings and image counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.paper import PaperFigures


def image_counts(status: pd.Series, n_not_attributed: int, n_evaluated: int) -> dict[str, Any]:
    """How many test images there are, have a border, were scored (from the border statuses)."""
    by_status = status.value_counts().to_dict()
    return {
        "n_images": len(status),
        "n_with_border": int((status == "ok").sum()),
        "n_without_border": int((status != "ok").sum()),
        "without_border_by_status": {str(k): int(v) for k, v in by_status.items() if k != "ok"},
        "n_not_attributed": n_not_attributed,
        "n_evaluated": n_evaluated,
    }


@dataclass(frozen=True)
class Context:
    """One evaluation's settings for the documents.

    ``paper``: the paper's figures the claims quote (None: none); ``counts``:
    :func:`image_counts`; ``layer_order``: layer names in network order; ``refused``: configured
    methods the model cannot run -> why; ``methods``, ``layer_methods``: the methods the run
    explains with.
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
