"""The sensitivity rows: per-map means, the model methods' paired family, and the points the
document needs (image count, recompute check, each map's function)."""

import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.sensitivity import rows
from seginterp.evaluate.results.table import ESTIMATE, Key, Results, frame
from seginterp.evaluate.sensitivity import SENSITIVITY_COLUMNS
from seginterp.evaluate.stats import summary

LAYERS = ["encoder1", "decoder5"]


def measured(sens: pd.DataFrame) -> Measured:
    """A Measured of sensitivity rows, the other tables empty, 100 bootstrap draws."""
    empty = pd.DataFrame()
    return Measured(empty, sens, empty, empty, empty, None, LAYERS,
                    EvaluateConfig(bootstrap=100))  # fmt: skip


def toy_sens(n_img: int = 8) -> pd.DataFrame:
    """Model maps: stable (0.1), shaky (0.5), a sampled one missing on the last image; gradcam
    layer maps listed decoder-first."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_img):
        maps = [("model", "stable", None, "border_mean", 0.1), ("model", "shaky", None,
                "border_mean", 0.5), ("layer", "gradcam", "decoder5", "border_mean", 0.3),
                ("layer", "gradcam", "encoder1", "border_mean", 0.2)]  # fmt: skip
        if i < n_img - 1:
            maps.append(("model", "sampled", None, "sample_mean(32)", 0.3))
        for level, method, layer, fn, s in maps:
            out.append({"id": f"i{i}", "index": i, "level": level, "method": method,
                        "layer": layer, "mode": "one-pass", "function": fn,
                        "sensitivity": s * rng.uniform(0.9, 1.1), "radius": 0.02, "n_samples": 5,
                        "recompute_rel_l2": 1e-5 * i if level == "model" else np.nan})  # fmt: skip
    return pd.DataFrame(out, columns=list(SENSITIVITY_COLUMNS))


@pytest.fixture(scope="module")
def res() -> Results:
    return Results(frame(rows(measured(toy_sens()))))


def test_means_per_map_in_table_and_network_order(res):
    sens = toy_sens()
    got = res.select(section="sensitivity", quantity="sensitivity", stat="mean")
    assert [(r["level"], r["method"], r["layer"]) for r in got] == [
        ("model", "stable", None), ("model", "shaky", None), ("model", "sampled", None),
        ("layer", "gradcam", "encoder1"), ("layer", "gradcam", "decoder5"),
    ]  # fmt: skip
    want = summary(sens.loc[sens["method"] == "stable", "sensitivity"].to_numpy(), 100, 0)
    assert res.summary(Key("sensitivity", "sensitivity", "model", "stable")) == want
    assert res.summary(Key("sensitivity", "sensitivity", "layer", "gradcam", "encoder1"))["n"] == 8


def test_model_methods_are_tested_on_the_images_they_all_have(res):
    pm = res.family(Key("sensitivity", level="model"), "pairwise")
    assert list(pm) == ["stable_vs_shaky", "stable_vs_sampled", "shaky_vs_sampled"]
    assert {p["n"] for p in pm.values()} == {7}  # the last image has no sampled map
    assert pm["stable_vs_shaky"]["better"] == "stable"  # lower is more stable
    assert pm["stable_vs_shaky"]["what"] == pm["stable_vs_shaky"]["basis"] == "sensitivity"


def test_points_carry_the_count_the_check_and_the_functions(res):
    assert res.value(Key("sensitivity", "n_images")) == 8
    assert res.value(Key("sensitivity", "recompute_rel_l2_max")) == pytest.approx(7e-5)
    fns = res.select(section="sensitivity", quantity="function", stat="point")
    assert [(r["method"], r["layer"], r["function"], r["estimate"]) for r in fns] == [
        ("stable", None, "border_mean", 8), ("shaky", None, "border_mean", 8),
        ("gradcam", "decoder5", "border_mean", 8), ("gradcam", "encoder1", "border_mean", 8),
        ("sampled", None, "sample_mean(32)", 7),
    ]  # fmt: skip


def test_without_rows_only_the_image_count():
    got = rows(measured(pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))))
    assert [(r["kind"], r["quantity"], r["estimate"]) for r in got] == [(ESTIMATE, "n_images", 0)]
    assert rows(measured(pd.DataFrame())) == got
