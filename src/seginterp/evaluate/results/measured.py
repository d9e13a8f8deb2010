"""What the results layer reads: the measure layer's per-image tables and the run's settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from seginterp.evaluate.config import EvaluateConfig


@dataclass(frozen=True)
class Measured:
    """The per-image tables of one evaluation (:data:`seginterp.evaluate.metrics.METRICS`).

    ``frag``: fragility rows; ``sens``: sensitivity rows; ``regions``: region rows of the trained
    model (all scored images); ``null``: region rows of the trained and the randomized model on
    the null images; ``sanity``: trained vs randomized rank correlations; ``segmentation``: the
    test split's per-image ``iou``/``dice`` (None: not available); ``layer_order``: layer names in
    network order; ``methods``, ``layer_methods``: the methods the run explains with (they name
    the per-method claims when no image could be explained); ``counts``: the test images'
    counts (:func:`seginterp.evaluate.results.run.image_counts`; empty: no rows); ``refused``:
    configured methods the model cannot run -> why; ``baseline``: region rows of the
    reference-based maps under the second baseline (:mod:`seginterp.evaluate.baseline`);
    ``localisation``, ``complexity``, ``deletion``: their metrics' rows of the trained model's
    maps; ``cascade``: the cascading randomisation's rows.
    """

    frag: pd.DataFrame
    sens: pd.DataFrame
    regions: pd.DataFrame
    null: pd.DataFrame
    sanity: pd.DataFrame
    segmentation: pd.DataFrame | None
    layer_order: Sequence[str]
    cfg: EvaluateConfig
    methods: Sequence[str] = ()
    layer_methods: Sequence[str] = ()
    counts: Mapping[str, Any] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)
    baseline: pd.DataFrame = field(default_factory=pd.DataFrame)
    localisation: pd.DataFrame = field(default_factory=pd.DataFrame)
    complexity: pd.DataFrame = field(default_factory=pd.DataFrame)
    deletion: pd.DataFrame = field(default_factory=pd.DataFrame)
    cascade: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def sigma(self) -> float:
        """The headline σ (the first of ``evaluate.infidelity_sigma``)."""
        return self.cfg.infidelity_sigma[0]
