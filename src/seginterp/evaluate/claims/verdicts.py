"""What the claims share. Results side: one-sample tests, the rows a claim is judged on (each
method in its majority mode). Render side: the verdict of a family of tests, summaries as
cells, and the randomized-weights null read back from the results table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from seginterp.evaluate.claims.base import HELD, INCONCLUSIVE, NOT_HELD
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import REPLICATES_MAX, Key, Results
from seginterp.evaluate.stats import PairSpec

NULL = "regions_null"
"""The section of the randomized-weights null's rows (:mod:`seginterp.evaluate.results.null`)."""


def fmt(s: Mapping[str, Any], key: str = "mean") -> str:
    """``value [lo, hi]`` of a summary (``mean``, ``median`` or ``ratio_of_means``)."""
    v = s.get(key)
    if v is None:
        return "—"
    if s.get("ci_low") is None:
        return f"{v:.3g} (n={s['n']}: no interval)"
    return f"{v:.3g} [{s['ci_low']:.3g}, {s['ci_high']:.3g}]"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _said(r: Mapping[str, Any], claimed: str) -> tuple[str, str]:
    """(what the images show, what the claim expects) of one test row, in words: how many images
    put ``a`` above ``b``, e.g. ``inside net share is above 0 in 57 of 60 image-model pairs,
    below in 3`` and ``below 0``."""
    unit = "image-model pairs" if r.get("stat") == REPLICATES_MAX else "images"
    a_up = (claimed == r["a"]) != bool(r["lower_is_better"])  # the claim wants a above b
    if _is_number(r["b"]):  # a one-sample test against a threshold
        lead, down = f"{r['what']} is above {r['b']}", "below"
        expect = f"{'above' if a_up else 'below'} {r['b']}"
    else:
        lead, down = f"{r['what']}: {r['a']} is higher than {r['b']}", "lower"
        expect = f"{claimed} {'lower' if r['lower_is_better'] else 'higher'}"
    if r.get("n_higher") is None:
        return f"{r['a']} vs {r['b']} ({r['what']})", expect
    hi, n = int(r["n_higher"]), int(r["n"])
    lo, ties = int(r["n_nonzero"]) - hi, n - int(r["n_nonzero"])
    tie = f", equal in {ties}" if ties else ""
    return f"{lead} in {hi} of {n} {unit}, {down} in {lo}{tie}", expect


def decide(results: Mapping[str, Mapping[str, Any]], claimed: Mapping[str, str]) -> tuple[str, str]:
    """Verdict and a reason in words from a family of paired tests: per test, in how many
    images the claim's direction was seen, and what the test says of it.

    Args:
        results: :meth:`Results.family` (:func:`~seginterp.evaluate.stats.paired_family`) output.
        claimed: pair key -> the name the claim says is better.
    """
    if not results:
        return INCONCLUSIVE, "nothing to test"
    parts, contrary, supported, untestable = [], 0, 0, 0
    for k, r in results.items():
        seen, expect = _said(r, claimed[k])
        if not r["testable"]:
            untestable += 1
            parts.append(f"{seen}: too few to test")
            continue
        label = "largest Holm p of the replicates" if r.get("stat") == REPLICATES_MAX else "Holm p"
        p = f"{label}={r['p_holm']:.2g}"
        if r["better"] is None:
            parts.append(f"{seen}: no significant difference ({p})")
        elif r["better"] == claimed[k]:
            supported += 1
            parts.append(f"{seen}, as the claim expects ({p})")
        else:
            contrary += 1
            parts.append(f"{seen}, against the claim (expected {expect}; {p})")
    why = "; ".join(parts)
    if contrary:
        return NOT_HELD, why
    if supported == len(results):
        return HELD, why
    if untestable == len(results):
        return INCONCLUSIVE, "too few images to test: " + why
    return INCONCLUSIVE, why


def decide_first(results: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """:func:`decide` for a family whose claim is that the first of each pair is better."""
    return decide(results, {k: r["a"] for k, r in results.items()})


def one_sample(name: str, values: np.ndarray, null: float, greater: bool, what: str) -> PairSpec:
    """A one-sample signed-rank test of ``values − null`` as a pair (``name`` vs ``null``):
    ``better`` = ``name`` when the values are significantly above ``null`` (``greater``) or
    below it (not ``greater``)."""
    v = np.asarray(values, dtype=np.float64)
    return PairSpec(name, f"{null:g}", v, np.full_like(v, null), what, not greater)


def majority_mode(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (method, layer) in its most frequent mode (ties: the first seen)."""
    if not len(df):
        return df
    keys = df["method"].astype(str) + "@" + df["layer"].fillna("-").astype(str)
    counts = df.assign(k=keys).groupby(["k", "mode"], sort=False).size().reset_index(name="c")
    best = counts.sort_values("c", ascending=False, kind="stable").drop_duplicates("k")
    keep = set(zip(best["k"], best["mode"], strict=True))
    mask = [(k, m) in keep for k, m in zip(keys, df["mode"], strict=True)]
    return df[np.asarray(mask, dtype=bool)]


def region_rows(m: Measured, per: str) -> pd.DataFrame:
    """The trained model's region rows of the model-level methods (``per="method"``, majority
    mode) or of the layer methods (``per="layer method"``)."""
    reg = m.regions
    if per == "method":
        return majority_mode(reg[reg["level"] == "model"])
    return reg[reg["level"] == "layer"]


SAME = "same"
"""The null's direction when the trained and the randomized model do not differ."""


def null_test(res: Results, key: Key, family: str) -> tuple[str | None, str]:
    """The trained vs randomized test of ``family`` at ``key``, read back: (the direction:
    ``trained`` when the trained model's value is significantly larger, ``randomized`` when
    smaller, :data:`SAME` when neither, None when there is no test; a short reason)."""
    if not res.value(Key(NULL, quantity="n_images")):
        return None, "no null images (evaluate.null_images = 0)"
    r = res.family(key, family).get("trained_vs_randomized")
    if r is None:
        return None, "no null maps"
    if not r["testable"]:
        return None, f"null: too few images (n={r['n_nonzero']})"
    if r["better"] == "trained":
        return "trained", f"stronger than the randomized model (p={r['p_holm']:.2g})"
    if r["better"] == "randomized":
        return "randomized", f"weaker than on the randomized model (p={r['p_holm']:.2g})"
    return SAME, f"not different from the randomized model (p={r['p_holm']:.2g})"


def with_null(verdict: str, why: str, null: tuple[str | None, str]) -> tuple[str, str]:
    """A region verdict that can be refuted as well as confirmed by the randomized-weights null:
    a pattern the randomized model shows equally is *untestable on this architecture*
    (inconclusive) whether the trained maps agree with the claim or not; ``held`` also needs
    the trained model stronger than the randomized one, and without a null test nothing is
    held or not held."""
    direction, reason = null
    if verdict == INCONCLUSIVE:
        return verdict, why
    if direction == SAME:
        return INCONCLUSIVE, f"{why}; but untestable on this architecture: {reason}"
    if direction is None or (verdict == HELD and direction != "trained"):
        return INCONCLUSIVE, f"{why}; but {reason}"
    return verdict, f"{why}; {reason}"
