"""Pooling replicate models' results tables: intervals over models and images, intersection-union
tests, counts."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from seginterp.evaluate.claims.verdicts import decide_first
from seginterp.evaluate.results import table
from seginterp.evaluate.results.pool import is_count, pool_tables, pooled_interval
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
        point(KEY.but(quantity="recompute_rel_l2_max"), float(shift)),
        *table.tests(Key("claim", name="x"), "claim", [spec], 0.05),
    ])  # fmt: skip


def _row(df: pd.DataFrame, quantity: str, stat: str) -> dict:
    return Results(df).get(KEY.but(quantity=quantity), stat)


def test_one_replicate_is_its_own_table() -> None:
    one = _replicate(0.0, 1)
    pd.testing.assert_frame_equal(pool_tables([one]), one)


def test_estimates_average_and_the_interval_covers_the_spread_between_models() -> None:
    """Issue 22, defect 5: one model's interval covers its images only; the pooled one covers
    the training run too (Student t over the models, combined with the image half-widths)."""
    reps = [_replicate(s, i) for i, s in enumerate((0.0, 0.3, 0.6))]
    got = _row(pool_tables(reps), "band_abs_share", "mean")
    own = [_row(r, "band_abs_share", "mean") for r in reps]
    means = np.array([r["estimate"] for r in own])
    assert got["estimate"] == pytest.approx(means.mean())
    assert got["n"] == 36
    t = sps.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    down = np.mean([r["estimate"] - r["ci_low"] for r in own])
    assert got["ci_low"] == pytest.approx(means.mean() - np.hypot(t, down))
    assert all(got["ci_low"] < m < got["ci_high"] for m in means)
    assert got["ci_high"] - got["ci_low"] > 5 * (own[0]["ci_high"] - own[0]["ci_low"])


def test_identical_models_keep_their_image_interval() -> None:
    est, lo, hi = np.full(3, 1.0), np.full(3, 0.8), np.full(3, 1.3)
    assert pooled_interval(est, lo, hi) == pytest.approx((0.8, 1.3))
    with pytest.raises(ValueError, match="shapes"):
        pooled_interval(est, lo[:2], hi)


def test_counts_are_summed_maxima_kept_and_other_points_averaged() -> None:
    reps = [_replicate(s, i) for i, s in enumerate((0.0, 0.3))]
    res = Results(pool_tables(reps))
    assert res.value(KEY.but(quantity="n")) == 24
    assert res.value(KEY.but(quantity="coverage_90")) == pytest.approx(0.15)
    assert res.value(KEY.but(quantity="recompute_rel_l2_max")) == pytest.approx(0.3)
    assert is_count("n_delta_f_negative") and is_count("band_n_positive") and is_count("n")
    assert not is_count("coverage_90") and not is_count("spearman")


def test_a_difference_is_significant_only_when_every_replicate_finds_it() -> None:
    agree = Results(pool_tables([_replicate(0, 1), _replicate(0, 2)]))
    (t,) = agree.select(table.TEST)
    assert t["better"] == "a" and t["p_holm"] < 0.05 and t["n"] == 24
    assert "in all 2 replicates" in t["verdict"]
    own = [Results(r).select(table.TEST)[0]["p_holm"] for r in (_replicate(0, 1), _replicate(0, 2))]
    assert t["p_holm"] == max(own)
    assert t["stat"] == table.REPLICATES_MAX  # named for what it is, in the claims' why-texts
    (single,) = Results(_replicate(0, 1)).family(Key("claim", name="x"), "claim").values()
    (pooled,) = agree.family(Key("claim", name="x"), "claim").values()
    assert "(Holm p=" in decide_first({"x": single})[1]
    assert "(largest Holm p of the replicates=" in decide_first({"x": pooled})[1]
    split = Results(pool_tables([_replicate(0, 1), _replicate(0, 2, better_b=True)]))
    (t,) = split.select(table.TEST)
    assert t["better"] is None and t["p_holm"] == 1.0
    assert t["verdict"] == "directions differ between the replicates (better: a, b)"


def test_a_row_one_replicate_lacks_is_left_out_but_image_counts_add_up() -> None:
    a, b = _replicate(0, 1), _replicate(0, 2)
    b = b[b["quantity"] != "coverage_90"]
    status = Key("images", "n_without_border", name="empty_prediction")
    a = pd.concat([a, frame([point(status, 2)])], ignore_index=True)
    res = Results(pool_tables([a, b]))
    assert res.value(KEY.but(quantity="coverage_90")) is None
    assert res.value(KEY.but(quantity="n")) == 24
    assert res.value(status) == 2


def test_a_note_is_kept_only_where_the_replicates_agree() -> None:
    key = KEY.but(quantity="largest_mean_share")
    tables = [frame([{**point(key, v), "note": layer}]) for v, layer in
              ((0.3, "decoder5"), (0.5, "decoder5"), (0.4, "encoder1"))]  # fmt: skip
    (row,) = Results(pool_tables(tables[:2])).select(quantity="largest_mean_share")
    assert row["note"] == "decoder5" and row["estimate"] == pytest.approx(0.4)
    (row,) = Results(pool_tables(tables)).select(quantity="largest_mean_share")
    assert row["note"] == "differs between replicates: decoder5, encoder1"
