from collections.abc import Mapping

import pandas as pd
from evaluate.test_infidelity_tables import LAYERS, toy_table

from seginterp.evaluate.aggregate import fragility_document, image_counts
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.sensitivity import SENSITIVITY_COLUMNS
from seginterp.evaluate.summary import methods_document, summary_document


def count_numbers(doc: object) -> int:
    """How many numeric leaves ``doc`` has (bools excluded)."""
    if isinstance(doc, Mapping):
        return sum(count_numbers(v) for v in doc.values())
    if isinstance(doc, list | tuple):
        return sum(count_numbers(v) for v in doc)
    return int(isinstance(doc, int | float) and not isinstance(doc, bool))


def _summary(frag_table: pd.DataFrame, n: int = 12) -> dict:
    counts = image_counts(pd.Series(["ok"] * n), 0, n)
    sens = pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    cfg = EvaluateConfig(bootstrap=50)
    frag = fragility_document(frag_table, sens, LAYERS, cfg, counts) if n else {}
    claims = {"counts": {"held": 1, "not held": 2, "inconclusive": 3}}
    seg = {"mIoU": 0.8798530634556485, "mDice": 0.919458891452851}
    return summary_document(seg, counts, frag, claims, "sigma_0p03")


def test_summary_is_compact_and_named():
    """Item 6: at most 40 numbers, short keys, test scores labelled test."""
    doc = _summary(toy_table())
    assert count_numbers(doc) <= 40
    assert doc["test"] == {"mIoU": 0.8799, "mDice": 0.9195}
    assert doc["claims"] == {"held": 1, "not_held": 2, "inconclusive": 3}
    assert doc["n"] == {"test": 12, "scored": 12}
    assert doc["skill"] == {"good": 0.8, "empty": doc["skill"]["empty"], "gbp": 0.5, "tiny": 0.0}
    assert max(len(k) for k in _flat(doc)) <= 20
    assert len(_flat(doc)) <= 14  # `dvc metrics show` of the default: 197 characters wide


def test_methods_hold_the_per_method_infidelity():
    counts = image_counts(pd.Series(["ok"] * 12), 0, 12)
    sens = pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    frag = fragility_document(toy_table(), sens, LAYERS, EvaluateConfig(bootstrap=50), counts)
    doc = methods_document(frag, "sigma_0p03")
    assert doc["sigma"] == 0.03 and set(doc) == {"sigma", "infd", "zero", "skill", "skill_norm"}
    assert doc["skill"]["good"] == 0.8 and set(doc["infd"]) == {"good", "empty", "gbp", "tiny"}
    assert count_numbers(doc) <= 40
    assert methods_document({}, "sigma_0p03") == {"sigma": None}


def test_summary_without_explained_images():
    doc = _summary(pd.DataFrame(), n=0)
    assert "skill" not in doc and doc["n"]["scored"] == 0


def _flat(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def test_refused_methods_are_named_with_their_reason_only_when_there_are_some():
    """A method the model could not run is in ``refused`` (short name -> reason); without one
    the document has no such key (the default's summary.json is unchanged)."""
    counts = image_counts(pd.Series(["ok"] * 12), 0, 12)
    sens = pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    frag = fragility_document(toy_table(), sens, LAYERS, EvaluateConfig(bootstrap=50), counts)
    claims = {"counts": {"held": 1, "not held": 2, "inconclusive": 3}}
    seg = {"mIoU": 0.5, "mDice": 0.6}
    doc = summary_document(seg, counts, frag, claims, "sigma_0p03", {"deeplift": "GroupNorm"})
    assert doc["refused"] == {"dl": "GroupNorm"}
    assert "refused" not in summary_document(seg, counts, frag, claims, "sigma_0p03", {})
