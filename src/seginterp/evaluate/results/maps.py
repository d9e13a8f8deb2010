"""Per-map means of a metric whose rows are one map of one image each (localisation,
complexity, deletion): for each map, ``n`` (a point) and the ``mean`` of each of the metric's
columns over the images where it is defined, with its bootstrap interval. Model maps first (in
table order), then per layer method its layers in network order; ``section`` is the metric's
name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seginterp.evaluate import complexity, deletion, localisation
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point


def map_means(section: str, df: pd.DataFrame, columns: Sequence[str], m: Measured) -> list[Row]:
    """The rows of ``section`` from its per-image table ``df`` (module doc)."""
    if not len(df):
        return []
    blocks = []
    model = df[df["level"] == "model"]
    blocks += [(Key(section, level="model", method=k), model[model["method"] == k])
               for k in dict.fromkeys(model["method"])]  # fmt: skip
    layer = df[df["level"] == "layer"]
    for method in dict.fromkeys(layer["method"]):
        sub = layer[layer["method"] == method]
        for name in (n for n in m.layer_order if n in set(sub["layer"])):
            key = Key(section, level="layer", method=method, layer=name)
            blocks.append((key, sub[sub["layer"] == name]))
    out: list[Row] = []
    for key, rows in blocks:
        out.append(point(key.but(quantity="n"), len(rows)))
        for c in columns:
            values = rows[c].dropna().to_numpy(dtype=np.float64)
            out.append(estimate(key.but(quantity=c), values, "mean", m.cfg.bootstrap, m.cfg.seed))
    return out


def localisation_rows(m: Measured) -> list[Row]:
    """:mod:`seginterp.evaluate.localisation`'s means per map."""
    return map_means("localisation", m.localisation, localisation.COLUMNS, m)


def complexity_rows(m: Measured) -> list[Row]:
    """:mod:`seginterp.evaluate.complexity`'s means per map."""
    return map_means("complexity", m.complexity, complexity.COLUMNS, m)


def deletion_rows(m: Measured) -> list[Row]:
    """:mod:`seginterp.evaluate.deletion`'s means per map (the random order a model-level row)."""
    return map_means("deletion", m.deletion, deletion.COLUMNS, m)
