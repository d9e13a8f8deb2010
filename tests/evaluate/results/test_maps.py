"""Per-map means of the localisation and complexity tables in the results table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.results.build import results_table
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results


def test_each_map_gets_n_and_a_mean_per_column() -> None:
    rng = np.random.default_rng(0)
    rows = []
    maps = (("model", "saliency", None), ("layer", "gradcam", "e2"), ("layer", "gradcam", "e1"))
    for i in range(5):
        for level, method, layer in maps:
            entropy = None if i == 0 else 2.0
            row = {"id": f"i{i}", "level": level, "method": method, "layer": layer}
            rows.append({**row, "sparseness": rng.random(), "entropy": entropy})
    cx = pd.DataFrame(rows)
    empty = pd.DataFrame()
    m = Measured(empty, empty, empty, empty, empty, None, ["e1", "e2"],
                 EvaluateConfig(bootstrap=50), complexity=cx)  # fmt: skip
    res = Results(results_table(m))
    key = Key("complexity", level="layer", method="gradcam", layer="e1")
    want = cx[cx["layer"] == "e1"]["sparseness"].mean()
    assert res.summary(key.but(quantity="sparseness"))["mean"] == want
    entropy = res.summary(key.but(quantity="entropy"))
    assert entropy["mean"] == 2.0 and entropy["n"] == 4  # the image without it left out
    assert res.value(key.but(quantity="n")) == 5
    section = res.select("estimate", section="complexity")
    assert [r["layer"] for r in section if r["quantity"] == "n"] == [None, "e1", "e2"]
