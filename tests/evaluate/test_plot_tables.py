"""Per-layer plot data follows the layer order."""

import pytest

from seginterp.evaluate.plot_tables import layer_plot_tables


def test_layer_plot_tables_follow_layer_order():
    def blk(v):
        return {"mean": v, "ci_low": v, "ci_high": v, "n": 3}

    def infd(v):
        return {"infidelity": blk(v), "zero_infidelity": blk(1.0), "skill": blk(1 - v)}

    order = ["encoder1", "encoder2", "decoder5"]
    frag = {
        "infidelity": {
            "sigma_0p03": {
                "unnormalized": {
                    "layer": {"gradcam": {"decoder5": infd(0.5), "encoder1": infd(2)}}
                },
                "normalized": {
                    "layer": {"gradcam": {"decoder5": infd(0.4), "encoder1": infd(0.9)}}
                },
            }
        },
        "sensitivity": {"layer": {"gradcam": {"encoder1": blk(0.1)}}},
    }

    def reg(v):
        r = {q: blk(v) for q in ("abs_share", "net_share", "enrichment")}
        return {
            "band": r,
            "inside": r,
            "outside": r,
            "n": 3,
            "n_claim_band_positive_inside_negative": 1,
        }

    regions = {"layer": {"gradcam": {"encoder1": reg(0.2), "decoder5": reg(0.6)}}}
    tables = layer_plot_tables(frag, regions, order, "sigma_0p03")
    rows = tables[("layer_infidelity", "gradcam")]
    assert [r["layer"] for r in rows] == ["encoder1", "decoder5"]
    assert [r["layer_index"] for r in rows] == [0, 2]
    assert rows[0]["sensitivity"] == 0.1 and rows[1]["sensitivity"] is None
    assert rows[1]["skill_normalized"] == pytest.approx(0.6)
    reg_rows = tables[("layer_regions", "gradcam")]
    assert reg_rows[1]["band_share"] == 0.6 and reg_rows[0]["n_claim"] == 1
