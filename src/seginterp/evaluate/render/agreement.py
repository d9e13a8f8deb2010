"""agreement.json: do the faithfulness tests rank the methods alike? A view of the results
table's ``agreement`` section (:mod:`seginterp.evaluate.results.agreement`); and the same as a
Markdown table (README, docs/results.md, the report)."""

from __future__ import annotations

from typing import Any

from seginterp.evaluate.claims.verdicts import fmt
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.agreement import SECTION, TESTS
from seginterp.evaluate.results.table import Key, Results

_TESTS = {t.name: t for t in TESTS}


def agreement_document(res: Results, ctx: Context) -> dict[str, Any]:
    """``{tests: {test: {label, lower_is_better, n, ranks: {method: rank}}}, kendall_w, kendall_tau:
    {"<a>_vs_<b>": ...}}`` (ranks 1 = best; pooled: the mean rank over the replicate models, n the
    image-model pairs); ``{why}`` when fewer than 2 methods or 2 tests were scored."""
    key = Key(SECTION)
    counts = res.select(section=SECTION, quantity="n")
    if not counts:
        return {"why": "fewer than 2 methods or 2 faithfulness tests have scores"}
    tests = {}
    for c in counts:
        t = _TESTS[c["name"]]
        ranks = res.select(section=SECTION, quantity=f"rank_{t.name}")
        tests[t.name] = {
            "label": t.label,
            "lower_is_better": t.lower_is_better,
            "n": int(c["estimate"]),
            "ranks": {r["method"]: r["estimate"] for r in ranks},
        }
    taus = res.select(section=SECTION, quantity="kendall_tau")
    return {
        "tests": tests,
        "kendall_w": res.summary(key.but(quantity="kendall_w"), "kendall_w"),
        "kendall_tau": {
            r["name"]: res.summary(key.but(quantity="kendall_tau", name=r["name"]), "kendall_tau")
            for r in taus
        },
    }


def _rank(v: float) -> str:
    return f"{v:.0f}" if v == int(v) else f"{v:.2g}"


def agreement_markdown(doc: dict[str, Any], dataset: str) -> str:
    """The ranks of every method under every test, then Kendall's W and the pairwise τ."""
    if "tests" not in doc:
        return f"Ranking agreement of the faithfulness tests on `{dataset}`: {doc['why']}."
    tests = doc["tests"]
    methods = list(next(iter(tests.values()))["ranks"])
    head = [f"{t['label']} {'↓' if t['lower_is_better'] else '↑'} (n={t['n']})"
            for t in tests.values()]  # fmt: skip
    lines = [
        f"Ranking agreement of the faithfulness tests on `{dataset}` (rank 1 = the most faithful "
        "method under that test, the mean rank over the models when pooled; ↑/↓: higher/lower "
        "scores are better; n: images scored, image-model pairs when pooled):",
        "",
        "| method | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(head),
        *(f"| {m} | " + " | ".join(_rank(t["ranks"][m]) for t in tests.values()) + " |"
          for m in methods),
        "",
        f"Kendall's W over the {len(tests)} tests: {fmt(doc['kendall_w'], 'kendall_w')} (1: "
        "every test ranks the methods alike, 0: no agreement; 95% intervals over the images, and "
        "over the models when pooled)."
        " Pairwise Kendall τ: " + "; ".join(f"{pair.replace('_vs_', ' vs ')} "
                                            f"{fmt(s, 'kendall_tau')}"
                                            for pair, s in doc["kendall_tau"].items()) + ".",
    ]  # fmt: skip
    return "\n".join(lines)
