"""Claims beyond the paper: does the infidelity order of the paper's methods agree with the
deletion and the insertion order (:mod:`seginterp.evaluate.results.agreement`)?

Judged on Kendall's τ between the two rankings of the paper's model-level methods, with its 95 %
interval (bootstrap over images; pooled, also over the replicate models): held when the interval
lies above 0 (the orders agree beyond chance), not held when it lies at or below 0 (no agreement,
or the reverse order), inconclusive otherwise. The reason names both orders.
"""

from __future__ import annotations

from itertools import pairwise

from seginterp.evaluate.claims import base
from seginterp.evaluate.claims.verdicts import fmt
from seginterp.evaluate.paper import PAPER_METHODS
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.agreement import TESTS, agreement, rank_rows
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Results, Row, statistic

_BY_NAME = {t.name: t for t in TESTS}


def _tests(claim: str, other: str):
    def tests(m: Measured, subject: str | None) -> list[Row]:
        """τ between the infidelity and the ``other`` ranking of the paper's methods."""
        key = base.claim_key(claim, subject)
        a = agreement(m, list(PAPER_METHODS), [_BY_NAME["infidelity"], _BY_NAME[other]])
        if a is None:
            why = f"infidelity or {other} not measured for 2 or more of the paper's methods"
            return [base.cannot_judge(key, why)]
        (tau,) = a.tau.values()
        n = min(a.n.values())
        out = rank_rows(key, a)
        return [*out, statistic(key.but(quantity="kendall_tau"), "kendall_tau", *tau, n, a.note),
                base.count(key, n)]  # fmt: skip

    return tests


def _order(res: Results, claim: str, test: str) -> str:
    """The methods best first under ``test``, e.g. ``deeplift > guided_gradcam = saliency``."""
    rows = res.select(section="claim", name=claim, quantity=f"rank_{test}")
    ranked = sorted(rows, key=lambda r: r["estimate"])
    out = ranked[0]["method"]
    for prev, r in pairwise(ranked):
        out += f" {'=' if r['estimate'] == prev['estimate'] else '>'} {r['method']}"
    return out


def _judge(claim: str, other: str):
    def judge(res: Results, ctx: Context, subject: str | None) -> base.Verdict:
        key = base.claim_key(claim, subject)
        tau = res.summary(key.but(quantity="kendall_tau"), "kendall_tau")
        ours = f"Kendall τ {fmt(tau, 'kendall_tau')}"
        orders = (f"infidelity skill ranks {_order(res, key.name, 'infidelity')}; {other} "
                  f"ranks {_order(res, key.name, other)} (best first)")  # fmt: skip
        lo, hi = tau["ci_low"], tau["ci_high"]
        if lo is None:
            return base.Verdict(
                ours, base.n_of(res, key), base.INCONCLUSIVE, f"{orders}; too few images"
            )
        if lo > 0:
            verdict, why = base.HELD, "the 95% interval of τ lies above 0"
        elif hi <= 0:
            verdict, why = base.NOT_HELD, "the 95% interval of τ lies at or below 0"
        else:
            verdict, why = base.INCONCLUSIVE, "the 95% interval of τ includes 0"
        return base.Verdict(ours, base.n_of(res, key), verdict, f"{orders}; {why}")

    return judge


def _spec(other: str, what: str) -> base.ClaimSpec:
    claim = f"agreement_{other}"
    return base.ClaimSpec(
        claim,
        f"the paper's methods rank alike under infidelity and {what}",
        "beyond the paper (ranking agreement of faithfulness tests)",
        "— (the paper reports infidelity and sensitivity)",
        _tests(claim, other),
        _judge(claim, other),
        beyond=True,
    )


SPECS: tuple[base.ClaimSpec, ...] = (
    _spec("deletion", "deletion (most relevant pixels removed first)"),
    _spec("insertion", "insertion (most relevant pixels kept first)"),
)
