"""Ranking agreement of the faithfulness tests: Kendall's W and τ, their bootstrap intervals over
images, the ``agreement`` section and the two claims beyond the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evaluate.claims.inputs import judged
from scipy.stats import kendalltau

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.results.agreement import kendall_tau, kendall_w, ranks, rows
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, frame

METHODS = ["guided_backprop", "guided_gradcam", "deeplift", "saliency"]


def test_kendall_w_and_tau_on_known_rankings() -> None:
    same = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]], dtype=float)
    assert kendall_w(same) == pytest.approx(1.0)
    assert kendall_w(np.array([[1, 2, 3, 4], [4, 3, 2, 1]], dtype=float)) == pytest.approx(0.0)
    # tie-corrected W by hand: Σ (t³ − t) = 6 (one pair tied by rater 2)
    tied = np.array([[1, 2, 3], [3, 1.5, 1.5]], dtype=float)
    r_sum = tied.sum(0)
    s = ((r_sum - r_sum.mean()) ** 2).sum()
    assert kendall_w(tied) == pytest.approx(12 * s / (4 * 24 - 2 * 6))
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = (
            ranks(rng.integers(0, 3, 5).astype(float)),
            ranks(rng.integers(0, 3, 5).astype(float)),
        )
        want = kendalltau(a, b).statistic
        got = kendall_tau(a, b)
        assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want)
    assert ranks(np.array([0.3, 0.9, 0.3])).tolist() == [2.5, 1.0, 2.5]  # higher = better


def ranked(deletion_sign: float, n: int = 12, seed: int = 0) -> Measured:
    """Skill orders the methods GBP > GGC > DeepLIFT > saliency on every image; deletion (lower
    better) and insertion follow that order (``deletion_sign`` 1) or reverse it (−1)."""
    rng = np.random.default_rng(seed)
    frag, dele, sens = [], [], []
    for i in range(n):
        for j, m in enumerate(METHODS):
            common = {"id": f"i{i}", "level": "model", "method": m, "layer": None,
                      "mode": "one-pass"}  # fmt: skip
            skill = 0.9 - 0.2 * j + rng.normal(0, 0.05)
            frag.append({**common, "sigma": 0.03, "normalize": False, "convention": "input",
                         "skill": skill, "zero": 1.0, "infidelity": 1 - skill, "beta": None,
                         "scored_function": "border_mean"})  # fmt: skip
            d = deletion_sign * (-0.5 + 0.1 * j) + rng.normal(0, 0.05)
            dele.append({**common, "deletion": d, "insertion": -d})
            sens.append({**common, "sensitivity": 0.1 * j + rng.normal(0, 0.01)})
        dele.append({"id": f"i{i}", "level": "model", "method": "random", "layer": None,
                     "mode": "seeded", "deletion": 9.0, "insertion": -9.0})  # fmt: skip
    cfg = EvaluateConfig(infidelity_sigma=(0.03,), bootstrap=200)
    empty = pd.DataFrame()
    return Measured(pd.DataFrame(frag), pd.DataFrame(sens), empty, empty, empty, None, [],
                    cfg, methods=METHODS, deletion=pd.DataFrame(dele))  # fmt: skip


def test_the_section_ranks_every_method_and_leaves_the_random_order_out() -> None:
    res = Results(frame(rows(ranked(1.0))))
    key = Key("agreement")
    w = res.summary(key.but(quantity="kendall_w"), "kendall_w")
    assert w["kendall_w"] == pytest.approx(1.0) and w["ci_low"] > 0.8
    assert [r["method"] for r in res.select(section="agreement", quantity="rank_deletion")] == (
        METHODS
    )
    assert res.value(key.but(quantity="rank_deletion", method="guided_backprop")) == 1.0
    assert res.value(key.but(quantity="n", name="sensitivity")) == 12
    tau = res.summary(key.but(quantity="kendall_tau", name="infidelity_vs_deletion"), "kendall_tau")
    assert tau["kendall_tau"] == pytest.approx(1.0)
    reverse = Results(frame(rows(ranked(-1.0))))
    tau = reverse.summary(key.but(quantity="kendall_tau", name="infidelity_vs_deletion"),
                          "kendall_tau")  # fmt: skip
    assert tau["kendall_tau"] == pytest.approx(-1.0) and tau["ci_high"] < 0
    w = reverse.summary(key.but(quantity="kendall_w"), "kendall_w")["kendall_w"]
    assert w == pytest.approx(0.0)  # two tests' order against the two others' reverse
    assert rows(ranked(1.0)) == rows(ranked(1.0))  # seeded


def test_the_claims_held_not_held_and_inconclusive() -> None:
    held = judged("agreement_deletion", ranked(1.0))
    assert held["verdict"] == "held" and held["group"] == "beyond the paper"
    assert "deletion ranks guided_backprop > guided_gradcam > deeplift (best first)" in held["why"]
    assert held["n"] == 12 and held["ours"].startswith("Kendall τ 1 [")
    assert judged("agreement_insertion", ranked(-1.0))["verdict"] == "not held"
    noisy = ranked(0.0)  # deletion is noise around one value: no order
    assert judged("agreement_deletion", noisy, dataset="synthetic")["verdict"] == "inconclusive"
    none = ranked(1.0)
    none = Measured(none.frag, none.sens, none.regions, none.null, none.sanity, None, [],
                    none.cfg, methods=METHODS)  # fmt: skip
    row = judged("agreement_deletion", none)
    assert row["verdict"] == "inconclusive" and "deletion not measured" in row["why"]


def test_a_pooled_rank_statistic_stays_within_its_range() -> None:
    from seginterp.evaluate.results.pool import pool_tables

    tables = [frame(rows(ranked(sign, seed=s))) for s, sign in enumerate((1.0, -1.0, 1.0))]
    pooled = Results(pool_tables(tables))
    tau = pooled.summary(Key("agreement", quantity="kendall_tau", name="infidelity_vs_deletion"),
                         "kendall_tau")  # fmt: skip
    assert tau["kendall_tau"] == pytest.approx(1 / 3) and tau["n"] == 36
    assert tau["ci_low"] == -1.0 and tau["ci_high"] == 1.0  # the t-interval, clipped
