"""Pooling replicate models' results tables: two-level intervals, intersection-union tests."""

import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.results import table
from seginterp.evaluate.results.pool import is_count, pool_tables, two_level_interval
from seginterp.evaluate.results.table import Key, Results, estimate, frame, point
from seginterp.evaluate.stats import PairSpec

KEY = Key("regions", "band_abs_share", level="model", method="saliency")


def _replicate(shift: float, seed: int, better_b: bool = False, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0 + shift, 0.1, n)
    b = a - (0.5 if not better_b else -0.5) + rng.normal(0, 0.01, n)
    spec = PairSpec("a", "b", a, b, "share", lower_is_better=False)
    return frame([
        estimate(KEY, a, "mean", 200, 0),
        point(KEY.but(quantity="n"), n),
        point(KEY.but(quantity="coverage_90"), float(shift)),
        *table.tests(Key("claim", name="x"), "claim", [spec], 0.05),
    ])  # fmt: skip


def _row(df: pd.DataFrame, quantity: str, stat: str) -> dict:
    return Results(df).get(KEY.but(quantity=quantity), stat)


def test_one_replicate_is_its_own_table() -> None:
    one = _replicate(0.0, 1)
    pd.testing.assert_frame_equal(pool_tables([one], 200, 0), one)


def test_estimates_average_and_the_interval_covers_the_spread_between_models() -> None:
    reps = [_replicate(s, i) for i, s in enumerate((0.0, 0.3, 0.6))]
    pooled = pool_tables(reps, 2000, 0)
    got = _row(pooled, "band_abs_share", "mean")
    means = [_row(r, "band_abs_share", "mean")["estimate"] for r in reps]
    assert got["estimate"] == pytest.approx(np.mean(means))
    assert got["n"] == 36
    # each model's own interval is about ±0.06; the pooled one spans the models' spread
    own = _row(reps[0], "band_abs_share", "mean")
    assert got["ci_high"] - got["ci_low"] > 3 * (own["ci_high"] - own["ci_low"])
    assert got["ci_low"] < means[1] < got["ci_high"]


def test_counts_are_summed_and_other_points_averaged() -> None:
    reps = [_replicate(s, i) for i, s in enumerate((0.0, 0.3))]
    res = Results(pool_tables(reps, 200, 0))
    assert res.value(KEY.but(quantity="n")) == 24
    assert res.value(KEY.but(quantity="coverage_90")) == pytest.approx(0.15)
    assert is_count("n_delta_f_negative") and is_count("band_n_positive") and is_count("n")
    assert not is_count("coverage_90") and not is_count("spearman")


def test_a_difference_is_significant_only_when_every_replicate_finds_it() -> None:
    agree = Results(pool_tables([_replicate(0, 1), _replicate(0, 2)], 200, 0))
    (t,) = agree.select(table.TEST)
    assert t["better"] == "a" and t["p_holm"] < 0.05 and t["n"] == 24
    assert "in all 2 replicates" in t["verdict"]
    split = Results(pool_tables([_replicate(0, 1), _replicate(0, 2, better_b=True)], 200, 0))
    (t,) = split.select(table.TEST)
    assert t["better"] is None and "no difference" in t["verdict"]
    own = [Results(r).select(table.TEST)[0]["p_holm"] for r in (_replicate(0, 1), _replicate(0, 2))]
    assert agree.select(table.TEST)[0]["p_holm"] == max(own)


def test_a_row_one_replicate_lacks_is_left_out() -> None:
    a, b = _replicate(0, 1), _replicate(0, 2)
    b = b[b["quantity"] != "coverage_90"]
    res = Results(pool_tables([a, b], 200, 0))
    assert res.value(KEY.but(quantity="coverage_90")) is None
    assert res.value(KEY.but(quantity="n")) == 24


def test_two_level_interval_of_identical_models_is_their_image_interval() -> None:
    est, lo, hi = np.full(3, 1.0), np.full(3, 0.8), np.full(3, 1.2)
    a, b = two_level_interval(est, lo, hi, 20000, 0)
    assert a == pytest.approx(0.8, abs=0.01) and b == pytest.approx(1.2, abs=0.01)
    with pytest.raises(ValueError, match="shapes"):
        two_level_interval(est, lo[:2], hi, 10, 0)
