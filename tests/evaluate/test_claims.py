import numpy as np
import pandas as pd
import pytest

from seginterp.core.registry import UnknownNameError
from seginterp.evaluate.claims import CLAIMS, ClaimInputs, Verdict, claims_document, claims_markdown
from seginterp.evaluate.claims.verdicts import decide, majority_mode
from seginterp.evaluate.paper import paper_figures
from seginterp.evaluate.stats import PairSpec, paired_family

EMPTY = pd.DataFrame()


def _inputs(dataset="synthetic", frag=EMPTY, seg=None, regions=EMPTY, null=EMPTY, **kw):
    kw = {"layer_order": ["encoder1", "decoder5"], "sigma": 0.03, "n_boot": 200, **kw}
    return ClaimInputs(dataset, paper_figures(dataset), frag, regions, null, seg, **kw)


def judged(name: str, ci: ClaimInputs, method: str | None = None) -> dict:
    """The row of the registered claim ``name`` (on ``method``) judged on ``ci``."""
    spec = CLAIMS.get(name)
    return spec.row(ci.paper, method, spec.judge(ci, method))


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


def test_segmentation_against_the_paper():
    rng = np.random.default_rng(0)
    good = pd.DataFrame({"iou": rng.uniform(0.85, 0.95, 30), "dice": rng.uniform(0.9, 0.98, 30)})
    bad = pd.DataFrame({"iou": rng.uniform(0.3, 0.5, 30), "dice": rng.uniform(0.4, 0.6, 30)})
    r = judged("segmentation", _inputs("kvasir-seg", seg=good))
    assert r["verdict"] == "held" and r["source"].startswith("Table I (Table I prints")
    r = judged("segmentation", _inputs("ham10000", seg=bad))
    assert r["verdict"] == "not held" and "0.9408" in r["paper"] and r["n"] == 30
    r = judged("segmentation", _inputs("synthetic", seg=good))
    assert r["verdict"] == "inconclusive" and r["why"] == "no paper figure for this dataset"
    assert "(test)" in r["ours"]


def _frag(n: int = 10) -> pd.DataFrame:
    """GGC tiny (skill 0), DeepLIFT skill 0.1, GBP skill −0.3; the sampled ones on their own
    function."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        zero = rng.uniform(1, 2)
        for method, skill, mode in (
            ("guided_gradcam", 0.0, "sampled(8)"),
            ("deeplift", 0.1, "one-pass"),
            ("guided_backprop", -0.3, "sampled(8)"),
        ):
            z = zero * (1.2 if mode != "one-pass" else 1.0)
            s = skill + rng.normal(0, 0.01)
            rows.append(
                {
                    "id": f"i{i}",
                    "sigma": 0.03,
                    "normalize": False,
                    "level": "model",
                    "method": method,
                    "layer": None,
                    "mode": mode,
                    "scored_function": "border_mean" if mode == "one-pass" else "sample(8)",
                    "infidelity": z * (1 - s),
                    "zero": z,
                    "skill": s,
                }
            )
    return pd.DataFrame(rows)


def test_infidelity_order_is_judged_on_skill_and_a_tiny_map_does_not_win():
    """Defect 3 + claim: GGC is tiny (skill 0) and scored against its own, different function;
    on skill DeepLIFT beats it, so the claimed order is not held."""
    r = judged("infidelity_order", _inputs(frag=_frag()))
    assert r["verdict"] == "not held"
    assert "guided_gradcam vs deeplift (skill): deeplift better, against the claim" in r["why"]
    assert "Kvasir-SEG Table II" in r["paper"] and "Table V orders" in r["paper"]
    assert r["n"] == 10


def test_majority_mode_keeps_one_mode_per_map():
    df = pd.DataFrame(
        {
            "method": ["g"] * 3 + ["d"],
            "layer": [None] * 4,
            "mode": ["exact", "sampled(8)", "sampled(8)", "one-pass"],
        }
    )
    assert list(majority_mode(df)["mode"]) == ["sampled(8)", "sampled(8)", "one-pass"]


def test_no_explainable_image_gives_inconclusive_claims_and_a_table():
    """The rows are the live ones (ids, texts, sources, the paper's figures), one per method the
    run explains with, all inconclusive."""
    seg = pd.DataFrame({"iou": [0.0, 0.0, 0.0], "dice": [0.0, 0.0, 0.0]})
    ci = _inputs(seg=seg, methods=["saliency"], layer_methods=["gradcam", "deeplift"])
    doc = claims_document(ci, n_images=0)
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
    ]
    assert all(c["verdict"] == "inconclusive" for c in doc["claims"])
    assert {c["why"] for c in doc["claims"][1:]} == {"no explainable image"}
    assert doc["claims"][1]["claim"] == CLAIMS.get("infidelity_order").text
    assert "Kvasir-SEG Table II" in doc["claims"][1]["paper"]
    assert doc["counts"] == {"held": 0, "not held": 0, "inconclusive": 10}
    md = claims_markdown(doc)
    assert md.count("\n| ") == 11 and "0 held, 0 not held, 10 inconclusive" in md


def test_an_unknown_claim_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="Valid claims: segmentation, infidelity_order"):
        CLAIMS.get("border")
