import numpy as np
import pandas as pd
from evaluate.test_claims import _inputs

from seginterp.evaluate.claims_regions import (
    border_only,
    border_sign,
    decoder2_peak,
    deeplift_coverage,
    depth_focus,
    region_claims,
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
    r = border_only(learned, "deeplift", reg)
    assert r["verdict"] == "held" and "stronger than the randomized model" in r["why"]
    r = border_only(forced, "deeplift", reg)
    assert r["verdict"] == "inconclusive" and "not different from the randomized model" in r["why"]
    r = border_only(_inputs(regions=reg), "deeplift", reg)
    assert r["verdict"] == "inconclusive" and "no null images" in r["why"]
    low = pd.DataFrame(_model_rows(10, "deeplift", 0.5))
    assert border_only(learned, "deeplift", low)["verdict"] == "not held"
    assert border_sign(learned, "deeplift", reg)["verdict"] == "held"


def test_coverage_compares_deeplift_with_every_other_method():
    reg = pd.DataFrame(_model_rows(10, "deeplift", 0.9) + _model_rows(10, "saliency", 0.9))
    r = deeplift_coverage(_inputs(regions=reg), reg)
    assert r["verdict"] == "held" and "deeplift 0.3" in r["ours"]


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
    ci = _inputs(regions=reg, null=null)
    ci = type(ci)(**{**ci.__dict__, "layer_order": LAYERS})
    r = depth_focus(ci, "gradcam", reg)
    assert r["verdict"] == "held" and r["n"] == 8
    assert decoder2_peak(ci, "gradcam", reg)["verdict"] == "held"
    other = pd.DataFrame(_layer_rows(8, "trained", 0.1, peak="encoder1"))
    r = decoder2_peak(ci, "gradcam", other)
    assert r["verdict"] == "not held" and "largest mean share: encoder1" in r["ours"]


def test_region_claims_cover_every_method():
    reg = pd.DataFrame(
        _model_rows(6, "deeplift", 0.9)
        + _model_rows(6, "saliency", 0.9)
        + _layer_rows(6, "trained", 0.1)
    )
    ci = _inputs(regions=reg)
    ids = [r["id"] for r in region_claims(type(ci)(**{**ci.__dict__, "layer_order": LAYERS}))]
    assert ids == [
        "border_sign/deeplift",
        "border_sign/saliency",
        "deeplift_coverage",
        "depth_focus/gradcam",
        "decoder2_peak/gradcam",
        "border_only/deeplift",
        "border_only/saliency",
    ]
