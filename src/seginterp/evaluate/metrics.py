"""The registry of evaluation metrics: ``METRICS``, one line per metric.

Each metric's module declares it (:class:`~seginterp.evaluate.measure.Metric`); its rows become
``data/<D>/evaluation/<name>.parquet``. The order is the order in which they measure an image:
the region null before the sanity check, so that the sanity check reads the randomized maps the
null made.
"""

from __future__ import annotations

from seginterp.core.registry import Registry
from seginterp.evaluate import (
    baseline,
    cascade,
    complexity,
    deletion,
    localisation,
    regions,
    sanity,
    scoring,
    sensitivity,
)
from seginterp.evaluate.measure import Metric

METRICS: Registry[Metric] = Registry.of(
    "metric",
    (
        scoring.METRIC,
        scoring.LAYER_METRIC,
        regions.METRIC,
        localisation.METRIC,
        complexity.METRIC,
        sensitivity.METRIC,
        deletion.METRIC,
        regions.NULL_METRIC,
        baseline.METRIC,
        sanity.METRIC,
        cascade.METRIC,
    ),
)
