"""summary.json and methods.json: compact views of the results table."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.render.summary import methods_document, summary_document
from seginterp.evaluate.results.run import image_counts
from seginterp.evaluate.results.table import Key, Results, estimate, frame, ratio

CLAIMS = {"counts": {"held": 1, "not held": 2, "inconclusive": 3}}


def count_numbers(doc: object) -> int:
    """How many numeric leaves ``doc`` has (bools excluded)."""
    if isinstance(doc, Mapping):
        return sum(count_numbers(v) for v in doc.values())
    if isinstance(doc, list | tuple):
        return sum(count_numbers(v) for v in doc)
    return int(isinstance(doc, int | float) and not isinstance(doc, bool))


def _map(method: str, name: str, n: int, skill: float, normalize: bool = False) -> list:
    """The estimates of one model-level row: infidelity ``1 − skill`` against ``E[Δf²]`` = 1."""
    key = Key("infidelity", "infidelity", "model", method, None, name, "one-pass", 0.03, normalize)
    infd, zero = np.full(n, 1 - skill), np.ones(n)
    return [
        estimate(key, infd, "mean", 20, 0),
        estimate(key.but(quantity="zero_infidelity"), zero, "mean", 20, 0),
        ratio(key.but(quantity="skill"), infd, zero, 20, 0),
    ]


def _results(n: int = 12) -> Results:
    rows = []
    if n:
        for normalize in (False, True):
            rows += _map("good", "good", n, 0.8, normalize)
            rows += _map("gbp", "gbp[exact]", 2, 0.1, normalize)  # the minority mode
            rows += _map("gbp", "gbp[sampled(8)]", n - 2, 0.5, normalize)
    seg = pd.DataFrame({"iou": [0.8798530634556485] * 3, "dice": [0.919458891452851] * 3})
    rows += [estimate(Key("segmentation", q), seg[q].to_numpy(), "mean", 20, 0) for q in seg]
    return Results(frame(rows))


def _ctx(n: int = 12, refused: Mapping[str, str] | None = None) -> Context:
    status = pd.Series(["ok"] * n + ["empty_prediction"] * (n == 0))
    counts = image_counts(status, 0, n)
    return Context("d", None, EvaluateConfig(bootstrap=20), counts, (), refused or {})


def test_summary_is_compact_and_named():
    """At most 40 numbers, short keys, test scores labelled test, each method's majority row."""
    doc = summary_document(_results(), _ctx(), CLAIMS)
    assert count_numbers(doc) <= 40
    assert doc["test"] == {"mIoU": 0.8799, "mDice": 0.9195}
    assert doc["claims"] == {"held": 1, "not_held": 2, "inconclusive": 3}
    assert doc["n"] == {"test": 12, "scored": 12}
    assert doc["skill"] == {"good": 0.8, "gbp": 0.5}
    assert max(len(k) for k in _flat(doc)) <= 20
    assert len(_flat(doc)) <= 14  # `dvc metrics show` of the default: 197 characters wide


def test_methods_hold_the_per_method_infidelity():
    doc = methods_document(_results(), _ctx())
    assert doc["sigma"] == 0.03 and set(doc) == {"sigma", "infd", "zero", "skill", "skill_norm"}
    assert doc["skill"] == {"good": 0.8, "gbp": 0.5} and doc["infd"]["good"] == 0.2
    assert doc["zero"] == {"good": 1.0, "gbp": 1.0} and doc["skill_norm"]["gbp"] == 0.5
    assert count_numbers(doc) <= 40
    assert methods_document(_results(0), _ctx(0)) == {"sigma": None}


def test_summary_without_explained_images():
    doc = summary_document(_results(0), _ctx(0), CLAIMS)
    assert "skill" not in doc and doc["n"] == {"test": 1, "scored": 0}
    assert doc["why"] == "no test prediction has a border (empty_prediction: 1)"


def _flat(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def test_refused_methods_are_named_with_their_reason_only_when_there_are_some():
    """A method the model could not run is in ``refused`` (short name -> reason); without one
    the document has no such key (the default's summary.json is unchanged)."""
    doc = summary_document(_results(), _ctx(refused={"deeplift": "GroupNorm"}), CLAIMS)
    assert doc["refused"] == {"dl": "GroupNorm"}
    assert "refused" not in summary_document(_results(), _ctx(), CLAIMS)
