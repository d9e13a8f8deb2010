"""agreement.json and its Markdown table, read back from the results table alone."""

from __future__ import annotations

from evaluate.results.test_agreement import METHODS, ranked

from seginterp.evaluate.render.agreement import agreement_document, agreement_markdown
from seginterp.evaluate.results.agreement import rows
from seginterp.evaluate.results.table import Results, frame


def test_the_document_and_its_table() -> None:
    doc = agreement_document(Results(frame(rows(ranked(-1.0)))), None)
    assert list(doc["tests"]) == ["infidelity", "deletion", "insertion", "sensitivity"]
    assert doc["tests"]["deletion"]["ranks"] == dict(
        zip(METHODS, [4.0, 3.0, 2.0, 1.0], strict=True)
    )
    assert doc["tests"]["sensitivity"] == {"label": "max-sensitivity", "lower_is_better": True,
                                           "n": 12, "ranks": dict(zip(METHODS, [1.0, 2.0, 3.0, 4.0],
                                                                      strict=True))}  # fmt: skip
    assert len(doc["kendall_tau"]) == 6 and "infidelity_vs_deletion" in doc["kendall_tau"]
    md = agreement_markdown(doc, "toy").splitlines()
    assert md[2] == ("| method | infidelity skill ↑ (n=12) | deletion AUC ↓ (n=12) | insertion AUC "
                     "↑ (n=12) | max-sensitivity ↓ (n=12) |")  # fmt: skip
    assert md[4] == "| guided_backprop | 1 | 4 | 4 | 1 |"
    assert "infidelity vs deletion -1 [-1, -1]" in md[-1]


def test_without_scores_the_document_says_why() -> None:
    empty = Results(frame([]))
    doc = agreement_document(empty, None)
    assert doc == {"why": "fewer than 2 methods or 2 faithfulness tests have scores"}
    assert agreement_markdown(doc, "toy").endswith("have scores.")
