"""The verdict of a family of tests, and the rows a claim is judged on."""

import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.claims.base import Verdict
from seginterp.evaluate.claims.verdicts import decide, majority_mode
from seginterp.evaluate.stats import PairSpec, paired_family


def _family(diffs: dict[str, float], n: int = 10) -> dict:
    """A family of pairs a_vs_<b> where a − b = diff on every image (plus a little noise)."""
    rng = np.random.default_rng(0)
    specs = [
        PairSpec("a", b, np.full(n, d) + rng.normal(0, 1e-3, n), np.zeros(n), "x", False)
        for b, d in diffs.items()
    ]
    return paired_family(specs, 0.05)


def test_verdict_rules_on_synthetic_numbers():
    """held: every pair significant in the claimed direction; not held: any pair significant
    against it; inconclusive: otherwise, or too few images."""
    claimed = {"a_vs_b": "a", "a_vs_c": "a"}
    assert decide(_family({"b": 1.0, "c": 2.0}), claimed)[0] == "held"
    assert decide(_family({"b": 1.0, "c": -2.0}), claimed)[0] == "not held"
    assert decide(_family({"b": 1.0, "c": 0.0}), claimed)[0] == "inconclusive"
    verdict, why = decide(_family({"b": 1.0, "c": 2.0}, n=4), claimed)
    assert verdict == "inconclusive" and why.startswith("too few images")
    assert decide({}, {})[0] == "inconclusive"
    with pytest.raises(ValueError, match="verdict"):
        Verdict("x", 1, "maybe", "x")


def test_majority_mode_keeps_one_mode_per_map():
    df = pd.DataFrame(
        {
            "method": ["g"] * 3 + ["d"],
            "layer": [None] * 4,
            "mode": ["exact", "sampled(8)", "sampled(8)", "one-pass"],
        }
    )
    assert list(majority_mode(df)["mode"]) == ["sampled(8)", "sampled(8)", "one-pass"]
