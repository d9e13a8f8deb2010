"""The results table: rows of estimates and tests, read back by key after a parquet round trip."""

import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.results import table
from seginterp.evaluate.results.table import (
    COLUMNS,
    HOLM,
    Key,
    Results,
    estimate,
    frame,
    key_of,
    point,
    ratio,
)
from seginterp.evaluate.stats import PairSpec, paired_family, ratio_skill, summary


def _roundtrip(rows, tmp_path) -> Results:
    path = tmp_path / "results.parquet"
    frame(rows).to_parquet(path, index=False)
    return Results(pd.read_parquet(path))


def test_estimates_and_tests_read_back_as_the_statistics_wrote_them(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=8), rng.normal(size=8) + 1
    zero = x**2 + 1
    key = Key("infidelity", "infidelity", level="model", method="saliency", sigma=0.03,
              normalize=False)  # fmt: skip
    specs = [PairSpec("a", "b", x, y), PairSpec("a", "c", x, x)]
    rows = [
        estimate(key, x, "mean", 50, 0),
        estimate(key, x, "median", 50, 0),
        ratio(key.but(quantity="skill"), np.abs(x), zero, 50, 0),
        estimate(key.but(method="tiny"), x[:2], "mean", 50, 0),
        point(key.but(quantity="n_claim"), 3.0, n=8),
        *table.tests(key.but(quantity=""), "pairwise", specs, 0.05),
    ]
    res = _roundtrip(rows, tmp_path)
    assert res.summary(key) == summary(x, 50, 0)
    assert res.summary(key.but(quantity="skill"), "ratio_of_means") == ratio_skill(
        np.abs(x), zero, 50, 0
    )
    assert res.summary(key.but(method="tiny"))["note"].startswith("too few values")
    assert res.get(key, "median")["estimate"] == float(np.median(x))
    assert res.value(key.but(quantity="n_claim")) == 3.0
    assert res.value(key.but(quantity="absent")) is None
    family = res.family(key, "pairwise")
    expected = {k: {"stat": HOLM, **v} for k, v in paired_family(specs, 0.05).items()}
    assert family == expected
    assert list(family) == ["a_vs_b", "a_vs_c"] and family["a_vs_c"]["rank_sum_diff"] == 0.0
    (row,) = res.select(quantity="infidelity", method="saliency", stat="mean")
    assert key_of(row) == key


def test_a_key_with_two_estimates_of_one_statistic_is_an_error(tmp_path):
    key = Key("regions", "band_abs_share")
    res = _roundtrip([estimate(key, np.ones(3), "mean", 10, 0)] * 2, tmp_path)
    with pytest.raises(ValueError, match="2 estimates"):
        res.get(key, "mean")
    with pytest.raises(KeyError, match="no median estimate"):
        res.summary(key, "median")


def test_schema_is_kept_by_an_empty_table_and_checked_on_read(tmp_path):
    df = frame([])
    assert list(df.columns) == list(COLUMNS) and len(df) == 0
    assert Results(df).select() == []
    with pytest.raises(ValueError, match="not a results table"):
        Results(pd.DataFrame({"estimate": [1.0]}))
    with pytest.raises(ValueError, match="stat must be"):
        estimate(Key("x"), np.ones(3), "max", 10, 0)
    with pytest.raises(ValueError, match="stat must be one of"):
        Results(df).get(Key("x"), "mean_of_means")
