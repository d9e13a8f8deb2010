"""claims.json and claims.md: one row per registered claim and subject, live or not."""

import numpy as np
import pandas as pd
import pytest
from evaluate.claims.inputs import (
    LAYERS,
    context,
    frag_rows,
    layer_rows,
    measured,
    model_rows,
    results,
)

from seginterp.core.registry import UnknownNameError
from seginterp.evaluate.claims.base import inconclusive
from seginterp.evaluate.claims.document import (
    claim_rows,
    claims_document,
    claims_markdown,
    pooled_claims_document,
)
from seginterp.evaluate.claims.registry import CLAIMS


def test_no_explainable_image_gives_inconclusive_claims_and_a_table():
    """The rows are the live ones (ids, texts, sources, the paper's figures), one per method the
    run explains with, all inconclusive."""
    seg = pd.DataFrame({"iou": [0.0, 0.0, 0.0], "dice": [0.0, 0.0, 0.0]})
    m = measured(seg=seg, methods=["saliency"], layer_methods=["gradcam", "deeplift"])
    doc = claims_document(results(m), context(m, n_evaluated=0))
    assert [c["id"] for c in doc["claims"]] == [
        "segmentation",
        "infidelity_order",
        "layer_robustness",
        "border_sign/saliency",
        "deeplift_coverage",
        "depth_focus/gradcam",
        "depth_focus/deeplift",
        "decoder2_peak/gradcam",
        "decoder2_peak/deeplift",
        "border_only/saliency",
        "agreement_deletion",
        "agreement_insertion",
    ]
    assert all(c["verdict"] == "inconclusive" for c in doc["claims"])
    assert {c["why"] for c in doc["claims"][1:]} == {"no explainable image"}
    assert doc["claims"][1]["claim"] == CLAIMS.get("infidelity_order").text
    assert "Kvasir-SEG Table II" in doc["claims"][1]["paper"]
    assert doc["counts"] == {"held": 0, "not held": 0, "inconclusive": 8}
    assert doc["counts_beyond"] == {"held": 0, "not held": 0, "inconclusive": 4}
    md = claims_markdown(doc)
    assert md.count("\n| ") == 9 + 5 and "methods: 0 held, 0 not held, 8 inconclusive" in md
    assert "Beyond the paper: the same claims on methods it did not use (0 held" in md


def test_rows_on_methods_the_paper_did_not_use_are_apart_from_its_tally():
    """Defect 4: a claim the paper made about its methods (Guided Backprop, Guided Grad-CAM,
    DeepLIFT; layer Grad-CAM and DeepLIFT) is not counted for saliency or IG: those rows are
    "beyond the paper", tallied apart."""
    reg = pd.DataFrame(model_rows(10, "deeplift", 0.5) + model_rows(10, "saliency", 0.5))
    m = measured(frag=frag_rows().assign(convention=None), regions=reg)
    doc = claims_document(results(m), context(m))
    groups = {r["id"]: r["group"] for r in doc["claims"]}
    assert groups["border_only/saliency"] == groups["border_sign/saliency"] == "beyond the paper"
    assert groups["border_only/deeplift"] == groups["infidelity_order"] == "paper"
    beyond = [r for r in doc["claims"] if r["group"] == "beyond the paper"]
    assert sum(doc["counts_beyond"].values()) == len(beyond) == 2 + 2  # and the agreement claims
    assert sum(doc["counts"].values()) == len(doc["claims"]) - 4


def test_an_unknown_claim_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="Valid claims: segmentation, infidelity_order"):
        CLAIMS.get("border")


def _named(row: dict) -> dict:
    """What a row's spec says: its id, text, source and the paper's figure."""
    return {k: row[k] for k in ("id", "claim", "source", "paper")}


def _from_registry(doc: dict, paper) -> None:
    """Every row's id, text, source and paper figure are its registered spec's."""
    for row in doc["claims"]:
        name, _, method = row["id"].partition("/")
        assert _named(row) == _named(CLAIMS.get(name).row(paper, method or None, inconclusive("")))


def test_every_row_is_made_from_its_spec_live_or_not():
    """The region claims cover every method; with no explained image the rows are the same
    (ids, texts, sources, paper figures) and all come from the registry."""
    reg = pd.DataFrame(
        model_rows(6, "deeplift", 0.9)
        + model_rows(6, "saliency", 0.9)
        + layer_rows(6, "trained", 0.1)
    )
    frag = frag_rows().assign(convention=None)
    m = measured(frag=frag, regions=reg, layer_order=LAYERS)
    ctx = context(m, n_evaluated=6)
    live = claims_document(results(m), ctx)
    assert [r["id"] for r in live["claims"][3:]] == [
        "border_sign/deeplift",
        "border_sign/saliency",
        "deeplift_coverage",
        "depth_focus/gradcam",
        "decoder2_peak/gradcam",
        "border_only/deeplift",
        "border_only/saliency",
        "agreement_deletion",
        "agreement_insertion",
    ]
    _from_registry(live, ctx.paper)
    none = measured(frag=pd.DataFrame(), regions=reg, layer_order=LAYERS,
                    methods=["deeplift", "saliency"], layer_methods=["gradcam"])  # fmt: skip
    doc = claims_document(results(none), context(none, n_evaluated=0))
    _from_registry(doc, ctx.paper)
    assert [_named(r) for r in doc["claims"]] == [_named(r) for r in live["claims"]]
    assert len(live["claims"]) == len(CLAIMS) + 2  # two model-level methods: 2 claims twice


def test_the_claim_rows_name_their_subjects_in_order():
    """Each claim's subjects are point rows of the table, in the order of the document; with
    nothing explained only the claims that need no explained image are tested."""
    none = measured(methods=["saliency", "deeplift"], layer_methods=["gradcam"])
    rows = claim_rows(none)
    subjects = [r["name"] for r in rows if r["quantity"] == "subject"]
    assert subjects[:4] == ["segmentation", "infidelity_order", "layer_robustness",
                            "border_sign/saliency"]  # fmt: skip
    assert {r["quantity"] for r in rows if r["name"] != "segmentation"} <= {
        "subject",
        "n_fragility_rows",
    }
    seg = pd.DataFrame({"iou": np.full(3, 0.5), "dice": np.full(3, 0.6)})
    doc = claims_document(results(measured(seg=seg)), context(measured(seg=seg), n_evaluated=0))
    assert doc["claims"][0]["ours"].startswith("mDice 0.6")


def _doc(*verdicts: str) -> dict:
    rows = [
        {"id": f"c{i}", "group": "paper", "claim": "c", "source": "s", "paper": "p", "ours": "o",
         "n": 4, "verdict": v, "why": "w"}
        for i, v in enumerate(verdicts)
    ]  # fmt: skip
    return {"dataset": "toy", "n_images": 4, "claims": rows, "counts": {}, "counts_beyond": {}}


def test_a_pooled_verdict_stands_only_when_every_replicate_gives_it():
    pooled = _doc("held", "not held", "held", "inconclusive")
    own = {0: _doc("held", "not held", "held", "not held"),
           3: _doc("held", "not held", "inconclusive", "not held")}  # fmt: skip
    doc = pooled_claims_document(pooled, own)
    assert [r["verdict"] for r in doc["claims"]] == [
        "held", "not held", "inconclusive", "inconclusive"
    ]  # fmt: skip
    assert doc["claims"][3]["why"].startswith("all 2 replicates not held, but not the pooled")
    assert doc["claims"][0]["why"] == "all 2 replicates held; pooled: w"
    assert doc["claims"][2]["why"].startswith("replicates disagree: 1 held, 1 inconclusive")
    assert doc["counts"] == {"held": 1, "not held": 1, "inconclusive": 2}
    assert doc["seeds"] == [0, 3]
    assert [x["seed"] for x in doc["claims"][2]["replicates"]] == [0, 3]
    md = claims_markdown(doc)
    assert "(2 replicate models, training seeds 0, 3; 4 explained image-model pairs)" in md
    assert "Over the replicates: held / not held only when the pooled tests say so" in md
    assert "| held, inconclusive | **inconclusive** |" in md


def test_one_replicate_keeps_its_verdicts_and_says_it_covers_one_model():
    doc = pooled_claims_document(_doc("held"), {7: _doc("held")})
    assert doc["claims"][0]["verdict"] == "held" and doc["claims"][0]["why"] == "w"
    assert "one model (training seed 7): the verdicts cover one training run" in claims_markdown(
        doc
    )
    with pytest.raises(ValueError, match="no replicate"):
        pooled_claims_document(_doc("held"), {})
