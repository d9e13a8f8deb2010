from dataclasses import replace

import numpy as np
import pandas as pd
from evaluate.test_claims import _frag, _inputs

from seginterp.evaluate.claims import CLAIMS, claims_document
from seginterp.evaluate.claims.base import inconclusive
from seginterp.evaluate.claims.regions import (
    border_only,
    border_sign,
    decoder2_peak,
    deeplift_coverage,
    depth_focus,
)

LAYERS = ["encoder1", "encoder2", "encoder3", "bottleneck", "decoder1", "decoder2"]


def _model_rows(n: int, method: str, band: float, weights: str | None = None) -> list[dict]:
    rng = np.random.default_rng(len(method))
    rows = []
    for i in range(n):
        b = band + rng.normal(0, 0.01)
        row = {
            "id": f"i{i}",
            "level": "model",
            "method": method,
            "layer": None,
            "mode": "one-pass",
            "band_abs_share": b,
            "band_net_share": b - 0.05,
            "inside_net_share": -0.2 + rng.normal(0, 0.01),
            "claim": True,
            "coverage_90": 0.3 if method == "deeplift" else 0.1 + rng.normal(0, 0.01),
        }
        if weights:
            row["weights"] = weights
        rows.append(row)
    return rows


def _null(n: int, trained: float, randomized: float) -> pd.DataFrame:
    return pd.DataFrame(
        _model_rows(n, "deeplift", trained, "trained")
        + _model_rows(n, "deeplift", randomized, "randomized")
    )


def test_a_region_claim_needs_the_null():
    """Defect 8: the same share on the randomized model (support-forced) is not held."""
    reg = pd.DataFrame(_model_rows(10, "deeplift", 0.95))
    learned = _inputs(regions=reg, null=_null(10, 0.95, 0.5))
    forced = _inputs(regions=reg, null=_null(10, 0.95, 0.95))
    r = border_only(learned, "deeplift")
    assert r.verdict == "held" and "stronger than the randomized model" in r.why
    r = border_only(forced, "deeplift")
    assert r.verdict == "inconclusive" and "not different from the randomized model" in r.why
    r = border_only(_inputs(regions=reg), "deeplift")
    assert r.verdict == "inconclusive" and "no null images" in r.why
    low = pd.DataFrame(_model_rows(10, "deeplift", 0.5))
    assert border_only(_inputs(regions=low, null=_null(10, 0.95, 0.5)), "deeplift").verdict == (
        "not held"
    )
    assert border_sign(learned, "deeplift").verdict == "held"


def test_coverage_compares_deeplift_with_every_other_method():
    reg = pd.DataFrame(_model_rows(10, "deeplift", 0.9) + _model_rows(10, "saliency", 0.9))
    r = deeplift_coverage(_inputs(regions=reg), None)
    assert r.verdict == "held" and "deeplift 0.3" in r.ours


def _layer_rows(n: int, weights: str, trend: float, peak: str = "decoder2") -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        for d, k in enumerate(LAYERS):
            rows.append(
                {
                    "id": f"i{i}",
                    "level": "layer",
                    "method": "gradcam",
                    "layer": k,
                    "mode": "one-pass",
                    "weights": weights,
                    "band_abs_share": 0.2 + trend * d + rng.normal(0, 0.005),
                    "native_abs_mass": (5.0 if k == peak else 1.0) + rng.normal(0, 0.01),
                }
            )
    return rows


def test_depth_focus_and_decoder2_peak():
    reg = pd.DataFrame(_layer_rows(8, "trained", 0.1))
    null = pd.DataFrame(_layer_rows(8, "trained", 0.1) + _layer_rows(8, "randomized", -0.05))
    ci = _inputs(regions=reg, null=null, layer_order=LAYERS)
    r = depth_focus(ci, "gradcam")
    assert r.verdict == "held" and r.n == 8
    assert decoder2_peak(ci, "gradcam").verdict == "held"
    other = pd.DataFrame(_layer_rows(8, "trained", 0.1, peak="encoder1"))
    r = decoder2_peak(replace(ci, regions=other), "gradcam")
    assert r.verdict == "not held" and "largest mean share: encoder1" in r.ours


def _named(row: dict) -> dict:
    """What a row's spec says: its id, text, source and the paper's figure."""
    return {k: row[k] for k in ("id", "claim", "source", "paper")}


def _from_registry(doc: dict, ci) -> None:
    """Every row's id, text, source and paper figure are its registered spec's."""
    for row in doc["claims"]:
        name, _, method = row["id"].partition("/")
        assert _named(row) == _named(
            CLAIMS.get(name).row(ci.paper, method or None, inconclusive(""))
        )


def test_every_row_is_made_from_its_spec_live_or_not():
    """The region claims cover every method; with no explained image the rows are the same
    (ids, texts, sources, paper figures) and all come from the registry."""
    reg = pd.DataFrame(
        _model_rows(6, "deeplift", 0.9)
        + _model_rows(6, "saliency", 0.9)
        + _layer_rows(6, "trained", 0.1)
    )
    frag = _frag().assign(convention=None)
    ci = _inputs(frag=frag, regions=reg, layer_order=LAYERS)
    live = claims_document(ci, n_images=6)
    assert [r["id"] for r in live["claims"][3:]] == [
        "border_sign/deeplift",
        "border_sign/saliency",
        "deeplift_coverage",
        "depth_focus/gradcam",
        "decoder2_peak/gradcam",
        "border_only/deeplift",
        "border_only/saliency",
    ]
    _from_registry(live, ci)
    configured = replace(ci, methods=["deeplift", "saliency"], layer_methods=["gradcam"])
    none = claims_document(replace(configured, frag=pd.DataFrame()), n_images=0)
    _from_registry(none, configured)
    assert [_named(r) for r in none["claims"]] == [_named(r) for r in live["claims"]]
    assert len(live["claims"]) == len(CLAIMS) + 2  # two model-level methods: 2 claims twice
