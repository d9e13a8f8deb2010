"""Per-layer plot data follows the layer order and reads the results table."""

import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.layer_infidelity import ACTIVATION
from seginterp.evaluate.render.plots import layer_plot_tables
from seginterp.evaluate.results.table import Key, Results, estimate, frame, point, ratio


def _infidelity_rows(layer, infd, sigma=0.03):
    rows = []
    for normalize, scale in ((False, 1.0), (True, 0.5)):
        key = Key("infidelity", "infidelity", "layer", "gradcam", layer, f"gradcam@{layer}",
                  "one-pass", sigma, normalize, ACTIVATION)  # fmt: skip
        v = np.full(3, infd * scale)
        rows += [
            estimate(key, v, "mean", 10, 0),
            estimate(key.but(quantity="zero_infidelity"), np.ones(3), "mean", 10, 0),
            ratio(key.but(quantity="skill"), v, np.ones(3), 10, 0),
        ]
    return rows


def test_layer_plot_tables_follow_layer_order():
    order = ["encoder1", "encoder2", "decoder5"]
    rows = [*_infidelity_rows("decoder5", 0.5), *_infidelity_rows("encoder1", 0.9)]
    rows += _infidelity_rows("encoder1", 0.1, sigma=0.1)  # another σ: not shown
    rows.append(estimate(Key("sensitivity", "sensitivity", "layer", "gradcam", "encoder1"),
                         np.full(3, 0.1), "mean", 10, 0))  # fmt: skip
    for layer, share in (("encoder1", 0.2), ("decoder5", 0.6)):
        key = Key("regions", level="layer", method="gradcam", layer=layer)
        for r in ("band", "inside", "outside"):
            for q in ("abs_share", "net_share", "enrichment"):
                rows.append(estimate(key.but(quantity=f"{r}_{q}"), np.full(3, share), "mean",
                                     10, 0))  # fmt: skip
        rows += [point(key.but(quantity="n"), 3), point(key.but(quantity="n_claim"), 1)]
    tables = layer_plot_tables(Results(frame(rows)), order, 0.03)
    infd = tables[("layer_infidelity", "gradcam")]
    assert [r["layer"] for r in infd] == ["encoder1", "decoder5"]
    assert [r["layer_index"] for r in infd] == [0, 2]
    assert infd[0]["sensitivity"] == pytest.approx(0.1) and infd[1]["sensitivity"] is None
    assert infd[1]["skill_normalized"] == pytest.approx(0.75)
    assert infd[0]["infidelity"] == pytest.approx(0.9) and infd[1]["skill"] == pytest.approx(0.5)
    reg = tables[("layer_regions", "gradcam")]
    assert reg[1]["band_share"] == pytest.approx(0.6) and reg[0]["n_claim"] == 1
    assert reg[0]["n"] == 3


def test_the_cascade_plot_has_a_row_per_step_per_method(tmp_path):
    from evaluate.render.test_sanity import cascade_results

    from seginterp.evaluate.render.plots import cascade_plot_tables, write_plot_tables

    res = cascade_results()
    tables = cascade_plot_tables(res)
    assert list(tables) == [("cascade", "saliency"), ("cascade", "deeplift")]
    dl = tables[("cascade", "deeplift")]
    assert [r["step"] for r in dl] == [1, 2, 3] and dl[-1]["block"] == "encoder1"
    assert dl[1]["spearman_abs"] == pytest.approx(0.4) and dl[1]["n"] == 3
    write_plot_tables(tmp_path, res, [], 0.03)
    csv = pd.read_csv(tmp_path / "cascade" / "deeplift.csv")
    assert list(csv.columns) == ["step", "block", "params_share", "spearman", "spearman_abs",
                                 "ssim", "n"]  # fmt: skip
