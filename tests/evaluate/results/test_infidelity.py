"""The infidelity rows: one row per map and mode, every skill statistic named, paired tests on
the right basis, the ρ between the layer rankings of the two conventions."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR
from seginterp.evaluate.results.infidelity import (
    BASIS_INFIDELITY,
    BASIS_SKILL,
    SPEARMAN,
    TINY_RMS_RATIO,
    row_names,
    rows,
    sigma_key,
)
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, frame

LAYERS = ["encoder1", "decoder5"]


def _row(i, norm, level, method, layer, v, zero, **kw):
    return {
        "id": f"i{i}",
        "sigma": 0.03,
        "normalize": norm,
        "level": level,
        "method": method,
        "layer": layer,
        "convention": kw.get("convention", "input" if layer is None else "activation"),
        "mode": kw.get("mode", "one-pass"),
        "scored_function": kw.get("function", "border_mean"),
        "function_mismatch": False,
        "infidelity": v,
        "zero": zero,
        "skill": 1 - v / zero,
        "map_l2": kw.get("l2", 1.0),
        "proj_rms_ratio": kw.get("ratio", 1.0),
    }


def chance(norm: bool, rng: np.random.Generator) -> float:
    """A per-image skill around the chance level: 0 unnormalized, 1/50 normalized."""
    return rng.uniform(-0.02, 0.02) + (0.02 if norm else 0.0)


def toy_table(n_img: int = 12) -> pd.DataFrame:
    """Model maps: good (skill 0.8), empty-like, a sampled method with one exact image, a tiny
    map; layer maps under both conventions, ranked differently."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_img):
        zero = rng.uniform(1, 2)
        zs = zero * 1.1  # the sampled maps' own function moves differently
        mode, fn = ("exact", "border_mean") if i == 0 else ("sampled(32)", "sample_mean(32)")
        z_own = zero if i == 0 else zs
        for norm in (False, True):
            rows += [
                _row(i, norm, "model", "good", None, zero * 0.2, zero),
                _row(i, norm, "model", "empty", None, zero * (1 - chance(norm, rng)), zero),
                _row(i, norm, "model", "gbp", None, z_own * 0.5, z_own, mode=mode, function=fn),
                _row(
                    i,
                    norm,
                    "model",
                    "tiny",
                    None,
                    z_own * (0.6 if norm else 1.0),
                    z_own,
                    mode=mode,
                    function=fn,
                    ratio=1e-3,
                    l2=1e-3,
                ),
            ]
            for conv, order in (("activation", (0.5, 0.9)), ("paper_bilinear", (0.9, 0.5))):
                for k, layer in enumerate(LAYERS):
                    for method, f in (("gradcam", order[k]), ("deeplift", order[1 - k] * 1.05)):
                        v = zero * f * rng.uniform(0.97, 1.03)
                        rows.append(_row(i, norm, "layer", method, layer, v, zero, convention=conv))
    return pd.DataFrame(rows)


def measured(frag: pd.DataFrame, sens: pd.DataFrame | None = None, layers=LAYERS) -> Measured:
    """A Measured of fragility (and sensitivity) rows, the other tables empty, 200 draws."""
    empty = pd.DataFrame()
    return Measured(frag, empty if sens is None else sens, empty, empty, empty, None, layers,
                    EvaluateConfig(bootstrap=200))  # fmt: skip


@pytest.fixture(scope="module")
def res() -> Results:
    return Results(frame(rows(measured(toy_table()))))


def key(name: str, normalize: bool = False, quantity: str = "infidelity", **kw) -> Key:
    """The key of a toy model row (``mode``: one-pass unless given)."""
    method = name.split("[")[0]
    mode = name.split("[")[1][:-1] if "[" in name else kw.pop("mode", "one-pass")
    return Key("infidelity", quantity, "model", method, None, name, mode, 0.03, normalize, **kw)


def model_names(res: Results, normalize: bool = False) -> list[str]:
    at = {"level": "model", "normalize": normalize, "quantity": "infidelity", "stat": "mean"}
    return [r["name"] for r in res.select(section="infidelity", **at)]


def test_sigma_key():
    assert sigma_key(0.03) == "sigma_0p03"


def test_rows_never_mix_modes(res):
    """Defect 3: the old summary row of a sampled method mixed its one exact image in."""
    assert set(model_names(res)) == {
        "good",
        "empty",
        "gbp[exact]",
        "gbp[sampled(32)]",
        "tiny[exact]",
        "tiny[sampled(32)]",
    }
    assert model_names(res, True) == model_names(res)
    assert res.summary(key("gbp[sampled(32)]"))["n"] == 11
    df = toy_table(2)
    assert set(row_names(df[df["level"] == "model"])) >= {"good", "gbp[exact]"}


def test_pairs_compare_on_skill_when_functions_differ(res):
    """Defect 3: a one-pass map (border mean) and a sampled map (its own K pixels) explain
    different functions; their infidelities are not comparable, their skills are."""
    pm = res.family(Key("infidelity", level="model", sigma=0.03, normalize=False), "pairwise")
    assert len(pm) == 11  # the 15 pairs of 6 rows but the 4 exact-vs-sampled (no common image)
    same = pm["good_vs_empty"]
    assert same["basis"] == BASIS_INFIDELITY and same["what"] == "infidelity"
    assert same["better"] == "good"
    mixed = pm["good_vs_gbp[sampled(32)]"]
    assert mixed["basis"] == BASIS_SKILL and mixed["what"] == "skill"
    assert mixed["better"] == "good" and mixed["n"] == 11
    both_sampled = pm["gbp[sampled(32)]_vs_tiny[sampled(32)]"]
    assert both_sampled["basis"] == BASIS_INFIDELITY
    assert pm["gbp[exact]_vs_tiny[exact]"]["testable"] is False  # one image


def test_every_skill_statistic_is_named(res):
    """Defect 4: ratio of means and per-image mean/median, each under its own name."""
    assert res.summary(key("good", quantity="skill"), "ratio_of_means")["ratio_of_means"] == (
        pytest.approx(0.8)
    )
    assert res.summary(key("good", quantity="skill_per_image"))["mean"] == pytest.approx(0.8)
    per_image = res.summary(key("good", quantity="skill_per_image"), "median")
    assert per_image["median"] == pytest.approx(0.8)
    assert res.get(key("good", quantity="skill"), "mean") is None
    assert res.summary(key("good", quantity="zero_infidelity"))["n"] == 12


def test_diagnostics_are_points(res):
    """Defect 5's inputs: the median projection ratio (tiny maps), the map's functions."""
    tiny = res.value(key("tiny[sampled(32)]", quantity="proj_rms_ratio_median"))
    assert tiny == pytest.approx(1e-3) and tiny < TINY_RMS_RATIO
    assert res.value(key("good", quantity="map_l2_median")) == pytest.approx(1.0)
    assert res.value(key("good", quantity="function_mismatch")) == 0
    fn = key("gbp[sampled(32)]", quantity="scored_function", function="sample_mean(32)")
    assert res.value(fn) == 11
    chance = Key("infidelity", "chance_skill", sigma=0.03, normalize=True)
    assert res.value(chance) == pytest.approx(0.02) and res.value(chance.but(normalize=False)) == 0


def test_both_layer_conventions_and_their_families(res):
    """Item 2: layer rows under both conventions in network order, between-method pairs at each
    layer; the ranking ρ is null with two layers."""
    for conv in (ACTIVATION, PAPER_BILINEAR):
        got = res.select(section="infidelity", level="layer", convention=conv, normalize=False,
                         quantity="skill", stat="ratio_of_means")  # fmt: skip
        assert [(r["method"], r["layer"]) for r in got] == [
            ("gradcam", "encoder1"), ("deeplift", "encoder1"),
            ("gradcam", "decoder5"), ("deeplift", "decoder5"),
        ]  # fmt: skip
    family = Key("infidelity", level="layer", sigma=0.03, normalize=False, convention=ACTIVATION)
    pl = res.family(family, "pairwise")
    assert list(pl) == [
        "gradcam@encoder1_vs_deeplift@encoder1",
        "gradcam@decoder5_vs_deeplift@decoder5",
    ]
    assert pl["gradcam@encoder1_vs_deeplift@encoder1"]["better"] == "gradcam@encoder1"
    rho = Key("infidelity", SPEARMAN, "layer", "gradcam", sigma=0.03, normalize=True)
    assert res.get(rho, "point") is not None and res.value(rho) is None


def test_layer_ranking_spearman_is_a_point_row():
    """ρ between the conventions' normalized (scale-free) skills of a layer method's layers (its
    pairs with a method of another function are tested on skill: no ranking input)."""
    layers = ["encoder1", "encoder2", "decoder5"]
    act, paper = (0.2, 0.5, 0.8), (0.8, 0.2, 0.5)
    frag = pd.DataFrame([
        _row(i, norm, "layer", method, k, z * f, z, convention=conv, function=fn)
        for i, z in enumerate((1.0, 1.5, 2.0))
        for norm in (False, True)
        for method, fn in (("gradcam", "border_mean"), ("deeplift", "sample_mean(32)"))
        for conv, fs in ((ACTIVATION, act), (PAPER_BILINEAR, paper))
        for k, f in zip(layers, fs, strict=True)
    ])  # fmt: skip
    res = Results(frame(rows(measured(frag, layers=layers))))
    rho = res.value(Key("infidelity", SPEARMAN, "layer", "gradcam", sigma=0.03, normalize=True))
    assert rho == pytest.approx(spearmanr([0.8, 0.5, 0.2], [0.2, 0.8, 0.5]).statistic)
    assert not res.select(section="infidelity", quantity=SPEARMAN, normalize=False)
    family = Key("infidelity", level="layer", sigma=0.03, normalize=False, convention=ACTIVATION)
    assert {p["what"] for p in res.family(family, "pairwise").values()} == {"skill"}


def test_no_fragility_rows_no_rows():
    assert rows(measured(pd.DataFrame())) == []
