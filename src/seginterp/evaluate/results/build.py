"""The results table of one evaluation: every builder's rows, in :data:`BUILDERS` order."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from seginterp.evaluate.claims.document import claim_rows
from seginterp.evaluate.results import (
    agreement,
    cascade,
    infidelity,
    maps,
    null,
    regions,
    run,
    sanity,
    segmentation,
    sensitivity,
)
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Row, frame

BUILDERS: tuple[tuple[str, Callable[[Measured], list[Row]]], ...] = (
    ("infidelity", infidelity.rows),
    ("sensitivity", sensitivity.rows),
    ("regions", regions.rows),
    ("localisation", maps.localisation_rows),
    ("complexity", maps.complexity_rows),
    ("deletion", maps.deletion_rows),
    ("agreement", agreement.rows),
    ("regions_null", null.rows),
    ("sanity", sanity.rows),
    ("cascade", cascade.rows),
    ("segmentation", segmentation.rows),
    ("claims", claim_rows),
    ("run", run.rows),
)
"""The parts of the results table: (section, the function from the per-image tables to its
rows). A new metric's statistics are one module here and one line."""


def results_table(m: Measured) -> pd.DataFrame:
    """Every estimate and test of one evaluation (:mod:`.table` schema)."""
    return frame(row for _, build in BUILDERS for row in build(m))
