import numpy as np
import pandas as pd
import pytest
from evaluate.results.test_regions import measured

from seginterp.evaluate.results.sanity import rows
from seginterp.evaluate.results.table import Key, Results, frame
from seginterp.evaluate.sanity import SANITY_COLUMNS


def toy_sanity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "a", "b"],
            "index": [0, 1, 0, 1],
            "method": ["saliency", "saliency", "deeplift", "deeplift"],
            "mode": ["one-pass"] * 4,
            "function": ["border_mean", "border_mean", "sample_mean(32)", "border_mean"],
            "spearman": [0.1, 0.3, 0.9, np.nan],
            "spearman_abs": [0.2, 0.4, 0.95, 0.97],
        }
    )


def test_sanity_rows_keep_the_per_image_values():
    res = Results(frame(rows(measured(sanity=toy_sanity()))))
    assert res.value(Key("sanity", quantity="n_images")) == 2
    sal = res.summary(Key("sanity", "spearman", method="saliency"))
    assert sal["mean"] == pytest.approx(0.2) and sal["ci_low"] is None  # 2 images: no interval
    assert res.summary(Key("sanity", "spearman", method="deeplift"))["n"] == 1
    per_image = res.select(section="sanity", method="deeplift", stat="point")
    assert [(r["name"], r["function"], r["quantity"], r["estimate"]) for r in per_image] == [
        ("a", "sample_mean(32)", "spearman", 0.9),
        ("a", "sample_mean(32)", "spearman_abs", 0.95),
        ("b", "border_mean", "spearman", None),  # undefined ρ: null
        ("b", "border_mean", "spearman_abs", 0.97),
    ]


def test_empty_sanity_has_only_its_image_count():
    (row,) = rows(measured(sanity=pd.DataFrame(columns=list(SANITY_COLUMNS))))
    assert row["quantity"] == "n_images" and row["estimate"] == 0
