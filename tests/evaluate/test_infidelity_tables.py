import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.infidelity_tables import (
    BASIS_INFIDELITY,
    BASIS_SKILL,
    aggregate_infidelity,
    layer_ranking,
    plot_view,
    row_names,
    sigma_key,
)

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


@pytest.fixture(scope="module")
def tables():
    return aggregate_infidelity(toy_table(), LAYERS, n_perturb_samples=50, n_boot=200)


def test_sigma_key():
    assert sigma_key(0.03) == "sigma_0p03"


def test_rows_never_mix_modes(tables):
    """Defect 3: the old summary row of a sampled method mixed its one exact image in."""
    u = tables["sigma_0p03"]["unnormalized"]
    assert set(u["model"]) == {
        "good",
        "empty",
        "gbp[exact]",
        "gbp[sampled(32)]",
        "tiny[exact]",
        "tiny[sampled(32)]",
    }
    assert u["model"]["gbp[sampled(32)]"]["infidelity"]["n"] == 11
    assert u["model"]["gbp[sampled(32)]"]["mode"] == "sampled(32)"
    df = toy_table(2)
    assert set(row_names(df[df["level"] == "model"])) >= {"good", "gbp[exact]"}


def test_pairs_compare_on_skill_when_functions_differ(tables):
    """Defect 3: a one-pass map (border mean) and a sampled map (its own K pixels) explain
    different functions; their infidelities are not comparable, their skills are."""
    pm = tables["sigma_0p03"]["unnormalized"]["pairwise_model"]
    same = pm["good_vs_empty"]
    assert same["basis"] == BASIS_INFIDELITY and same["what"] == "infidelity"
    assert same["better"] == "good"
    mixed = pm["good_vs_gbp[sampled(32)]"]
    assert mixed["basis"] == BASIS_SKILL and mixed["what"] == "skill"
    assert mixed["better"] == "good" and mixed["n"] == 11
    both_sampled = pm["gbp[sampled(32)]_vs_tiny[sampled(32)]"]
    assert both_sampled["basis"] == BASIS_INFIDELITY
    assert pm["gbp[exact]_vs_tiny[exact]"]["testable"] is False  # one image


def test_every_skill_statistic_is_named(tables):
    """Defect 4: ratio of means and per-image mean/median, each under its own name."""
    b = tables["sigma_0p03"]["unnormalized"]["model"]["good"]
    assert b["skill_ratio_of_means"]["ratio_of_means"] == pytest.approx(0.8)
    assert b["skill_per_image_mean"]["mean"] == pytest.approx(0.8)
    assert b["skill_per_image_median"]["median"] == pytest.approx(0.8)
    assert "skill" not in b
    assert b["verdict"] == "better than an empty map"


def test_tiny_map_is_not_called_empty_and_normalized_skill_is_judged_against_chance(tables):
    """Defect 5: a map whose unnormalized skill is 0 only because it is tiny is reported as
    tiny, and its normalized skill above chance is reported as better than chance."""
    s = tables["sigma_0p03"]
    u, n = s["unnormalized"]["model"], s["normalized"]["model"]
    assert u["tiny[sampled(32)]"]["tiny_map"] is True
    assert u["tiny[sampled(32)]"]["verdict"].startswith("tiny map")
    assert n["tiny[sampled(32)]"]["verdict"].startswith("better than chance")
    assert u["empty"]["verdict"] == "no better than an empty map"
    assert n["empty"]["chance_skill"] == pytest.approx(0.02)
    assert n["empty"]["verdict"].startswith("no information")
    assert u["tiny[exact]"]["verdict"].startswith("too few images")


def test_both_layer_conventions_and_the_ranking_change(tables):
    """Item 2: layer tables under both conventions; the ranking comparison says what changed."""
    u = tables["sigma_0p03"]["unnormalized"]
    assert list(u["layer"]["gradcam"]) == LAYERS == list(u["layer_paper_bilinear"]["gradcam"])
    assert (
        u["pairwise_layer"]["gradcam@encoder1_vs_deeplift@encoder1"]["better"] == "gradcam@encoder1"
    )
    rank = layer_ranking(u)
    g = rank["by_method"]["gradcam"]
    assert g["activation"] == ["encoder1", "decoder5"]
    assert g["paper_bilinear"] == ["decoder5", "encoder1"] and g["changed"] is True
    assert rank["better_method_per_layer"]["encoder1"]["activation"] == "gradcam"


def test_plot_view_feeds_the_plot_tables_the_ratio_of_means(tables):
    view = plot_view({"infidelity": tables, "sensitivity": {}})
    b = view["infidelity"]["sigma_0p03"]["unnormalized"]["layer"]["gradcam"]["encoder1"]
    assert b["skill"]["mean"] == b["skill_ratio_of_means"]["ratio_of_means"]
