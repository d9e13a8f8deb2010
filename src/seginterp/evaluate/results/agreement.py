"""Do the faithfulness tests rank the explanation methods alike?

For the model-level methods (each in its majority mode), the faithfulness tests of :data:`TESTS`
each give a per-image score; a method's score under a test is its mean over the test's images,
and its rank is 1 for the best (average ranks for ties). Over the ``k`` tests and ``m`` methods:

- ``rank_<test>``: each method's rank (a point);
- ``kendall_w``: Kendall's coefficient of concordance of the ``k`` rankings (1: every test ranks
  the methods alike; 0: no agreement), with ties corrected;
- ``kendall_tau`` (``name`` ``<a>_vs_<b>``): the rank correlation (τ-b) of two tests' rankings.

The intervals are 95 % percentile-bootstrap intervals over images: each test's images are
resampled (the methods of an image together) and the rankings and statistics recomputed. The
tests are measured on different images (sensitivity on ``sensitivity_max_images``), so each is
resampled within its own. The section is ``agreement``; the claims on the paper's methods
(:mod:`seginterp.evaluate.claims.agreement`) call :func:`agreement` on those methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from seginterp.evaluate.claims.verdicts import majority_mode
from seginterp.evaluate.deletion import RANDOM
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, point, statistic

SECTION = "agreement"


@dataclass(frozen=True)
class FaithfulnessTest:
    """One test a method is ranked by: its per-image ``column`` of the rows ``rows(m)`` picks;
    ``label`` names it in the documents."""

    name: str
    column: str
    lower_is_better: bool
    rows: Callable[[Measured], pd.DataFrame]
    label: str


def _infidelity(m: Measured) -> pd.DataFrame:
    f = m.frag
    if not len(f):
        return f
    at = (f["sigma"] == m.sigma) & ~f["normalize"].astype(bool) & (f["convention"] == "input")
    return f[at & (f["level"] == "model")]


def _deletion(m: Measured) -> pd.DataFrame:
    d = m.deletion
    return d[(d["level"] == "model") & (d["method"] != RANDOM.method)] if len(d) else d


def _sensitivity(m: Measured) -> pd.DataFrame:
    s = m.sens
    return s[s["level"] == "model"] if len(s) else s


TESTS: tuple[FaithfulnessTest, ...] = (
    FaithfulnessTest("infidelity", "skill", False, _infidelity, "infidelity skill"),
    FaithfulnessTest("deletion", "deletion", True, _deletion, "deletion AUC"),
    FaithfulnessTest("insertion", "insertion", False, _deletion, "insertion AUC"),
    FaithfulnessTest("sensitivity", "sensitivity", True, _sensitivity, "max-sensitivity"),
)
"""The faithfulness tests (infidelity as skill at the headline σ, unnormalized, the paper's)."""


def scores(m: Measured, test: FaithfulnessTest, methods: Sequence[str]) -> pd.DataFrame:
    """(images, methods) the test's per-image scores, higher = better, on the images where every
    one of ``methods`` has one (methods it lacks are absent)."""
    rows = test.rows(m)
    if not len(rows):
        return pd.DataFrame(columns=[])
    rows = majority_mode(rows)
    wide = rows.pivot_table(index="id", columns="method", values=test.column, aggfunc="first")
    wide = wide[[c for c in methods if c in wide.columns]].dropna()
    return -wide if test.lower_is_better else wide


def ranks(score: np.ndarray) -> np.ndarray:
    """(..., m) scores (higher = better) -> ranks, 1 = best, ties averaged."""
    return rankdata(-score, axis=-1)


def kendall_w(r: np.ndarray) -> np.ndarray:
    """Kendall's W of (..., k, m) rankings of ``m`` items by ``k`` raters, tie-corrected."""
    k, m = r.shape[-2:]
    total = r.sum(axis=-2)
    s = ((total - total.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    ties = np.zeros(r.shape[:-1])
    for i in range(m):  # Σ (t³ − t) over a rater's tie groups: each of t tied items adds t² − 1
        t = (r == r[..., i : i + 1]).sum(axis=-1)
        ties += t**2 - 1
    denom = k**2 * (m**3 - m) - k * ties.sum(axis=-1)
    return np.where(denom > 0, 12 * s / np.where(denom > 0, denom, 1), np.nan)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's τ-b of two (..., m) rankings (nan when either is all ties)."""
    i, j = np.triu_indices(a.shape[-1], 1)
    sa, sb = np.sign(a[..., i] - a[..., j]), np.sign(b[..., i] - b[..., j])
    den = np.sqrt((sa**2).sum(-1) * (sb**2).sum(-1))
    return np.where(den > 0, (sa * sb).sum(-1) / np.where(den > 0, den, 1), np.nan)


Interval = tuple[float | None, float | None, float | None]
"""A statistic with its 95 % interval: (value, low, high); None where undefined."""


@dataclass(frozen=True)
class Agreement:
    """The rankings of ``methods`` by ``tests`` (``ranks`` (k, m), 1 = best), the images each
    test scored (``n``), Kendall's W and each pair of tests' τ (``"<a>_vs_<b>"``)."""

    methods: list[str]
    tests: list[str]
    n: dict[str, int]
    ranks: np.ndarray
    w: Interval
    tau: dict[str, Interval]

    @property
    def note(self) -> str:
        return "images: " + ", ".join(f"{t} {n}" for t, n in self.n.items())


def _interval(value: float, boot: np.ndarray) -> Interval:
    ok = boot[np.isfinite(boot)]
    v = float(value) if np.isfinite(value) else None
    if not len(ok):
        return v, None, None
    return v, float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5))


def agreement(
    m: Measured, methods: Sequence[str], tests: Sequence[FaithfulnessTest]
) -> Agreement | None:
    """The agreement of ``tests`` on the ``methods`` every one of them scores (module doc);
    None when fewer than 2 methods or 2 tests have scores."""
    tables = {t.name: scores(m, t, methods) for t in tests}
    tables = {n: t for n, t in tables.items() if len(t)}
    common = [x for x in methods if all(x in t.columns for t in tables.values())]
    if len(common) < 2 or len(tables) < 2:
        return None
    values = [tables[n][common].to_numpy(np.float64) for n in tables]
    r = np.stack([ranks(v.mean(axis=0)) for v in values])  # (k, m)
    rng = np.random.default_rng(m.cfg.seed + 5)
    n_boot = m.cfg.bootstrap
    boot = np.stack(
        [ranks(v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)) for v in values], axis=1
    )  # fmt: skip  (B, k, m)
    names = list(tables)
    tau = {f"{a}_vs_{b}": _interval(kendall_tau(r[i], r[j]), kendall_tau(boot[:, i], boot[:, j]))
           for (i, a), (j, b) in combinations(enumerate(names), 2)}  # fmt: skip
    n = {name: len(v) for name, v in zip(names, values, strict=True)}
    return Agreement(common, names, n, r, _interval(kendall_w(r), kendall_w(boot)), tau)


def rank_rows(key: Key, a: Agreement) -> list[Row]:
    """Each method's rank under each test: points ``rank_<test>`` at ``key`` (``method`` set)."""
    return [point(key.but(quantity=f"rank_{t}", method=x), float(a.ranks[j, i]))
            for j, t in enumerate(a.tests) for i, x in enumerate(a.methods)]  # fmt: skip


def rows(m: Measured) -> list[Row]:
    """The ``agreement`` section over every model-level method the run explains with: per test
    its image count (``n``, ``name`` the test) and the ranks; Kendall's W; each pair's τ."""
    a = agreement(m, list(m.methods), TESTS)
    if a is None:
        return []
    key, low = Key(SECTION), min(a.n.values())
    out = [point(key.but(quantity="n", name=t), n) for t, n in a.n.items()]
    out += rank_rows(key, a)
    out.append(statistic(key.but(quantity="kendall_w"), "kendall_w", *a.w, low, a.note))
    out += [statistic(key.but(quantity="kendall_tau", name=pair), "kendall_tau", *v, low, a.note)
            for pair, v in a.tau.items()]  # fmt: skip
    return out
