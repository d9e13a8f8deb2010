"""fragility.json as a view of the results table: names, verdicts, layer rankings, counts."""

import json

import pandas as pd
import pytest
from evaluate.results.test_infidelity import LAYERS, measured, toy_table
from evaluate.results.test_sensitivity import toy_sens

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.render.fragility import fragility_document
from seginterp.evaluate.results import infidelity, sensitivity
from seginterp.evaluate.results.infidelity import sigma_key
from seginterp.evaluate.results.run import image_counts
from seginterp.evaluate.results.table import Results, frame

COUNTS = image_counts(pd.Series(["ok"] * 12 + ["empty_prediction"]), 0, 12)


def table(frag: pd.DataFrame, sens: pd.DataFrame) -> pd.DataFrame:
    m = measured(frag, sens)
    return frame([*infidelity.rows(m), *sensitivity.rows(m)])


def ctx(cfg: EvaluateConfig | None = None) -> Context:
    return Context("synthetic", None, cfg or EvaluateConfig(bootstrap=200), COUNTS, LAYERS)


@pytest.fixture(scope="module")
def doc() -> dict:
    return fragility_document(Results(table(toy_table(), toy_sens())), ctx())


def test_documents_name_their_statistics_and_conventions(doc):
    assert COUNTS["n_without_border"] == 1 and COUNTS["n_evaluated"] == 12
    assert list(doc) == [
        "function", "statistics", "layer_conventions", "layer", "layer_ranking", "perturbation",
        *COUNTS, "infidelity", "sensitivity",
    ]  # fmt: skip
    assert sigma_key(0.03) in doc["infidelity"] and doc["infidelity"]["sigma_0p03"]["sigma"] == 0.03
    assert {"skill_ratio_of_means", "skill_per_image_mean"} <= set(doc["statistics"])
    assert set(doc["layer_conventions"]) == {"activation", "paper_bilinear"}
    assert doc["perturbation"]["n_perturb_samples"] == 50 and doc["n_evaluated"] == 12
    rank = doc["layer_ranking"]["sigma_0p03"]["by_method"]["gradcam"]
    assert rank["changed"] is True and rank["spearman"] is None  # two layers: no ρ


def test_map_blocks_name_every_skill_statistic(doc):
    """Defect 4: ratio of means and per-image mean/median, each under its own name."""
    u = doc["infidelity"]["sigma_0p03"]["unnormalized"]
    assert u["model"]["gbp[sampled(32)]"]["infidelity"]["n"] == 11
    assert u["model"]["gbp[sampled(32)]"]["mode"] == "sampled(32)"
    assert u["model"]["gbp[sampled(32)]"]["scored_function"] == "sample_mean(32)"
    b = u["model"]["good"]
    assert b["skill_ratio_of_means"]["ratio_of_means"] == pytest.approx(0.8)
    assert b["skill_per_image_median"]["median"] == pytest.approx(0.8)
    assert "skill" not in b and b["function_mismatch"] is False
    assert b["verdict"] == "better than an empty map"


def test_tiny_map_is_not_called_empty_and_normalized_skill_is_judged_against_chance(doc):
    """Defect 5: a map whose unnormalized skill is 0 only because it is tiny is reported as
    tiny, and its normalized skill above chance is reported as better than chance."""
    s = doc["infidelity"]["sigma_0p03"]
    u, n = s["unnormalized"]["model"], s["normalized"]["model"]
    assert u["tiny[sampled(32)]"]["tiny_map"] is True
    assert u["tiny[sampled(32)]"]["verdict"].startswith("tiny map")
    assert n["tiny[sampled(32)]"]["verdict"].startswith("better than chance")
    assert u["empty"]["verdict"] == "no better than an empty map"
    assert n["empty"]["chance_skill"] == pytest.approx(0.02)
    assert n["empty"]["verdict"].startswith("no information")
    assert u["tiny[exact]"]["verdict"].startswith("too few images")


def test_both_layer_conventions_and_the_ranking_change(doc):
    """Item 2: layer tables under both conventions; the ranking comparison says what changed."""
    u = doc["infidelity"]["sigma_0p03"]["unnormalized"]
    assert list(u["layer"]["gradcam"]) == LAYERS == list(u["layer_paper_bilinear"]["gradcam"])
    pair = u["pairwise_layer"]["gradcam@encoder1_vs_deeplift@encoder1"]
    assert pair["better"] == "gradcam@encoder1"
    assert set(u["pairwise_layer_paper_bilinear"]) == set(u["pairwise_layer"])
    rank = doc["layer_ranking"]["sigma_0p03"]
    g = rank["by_method"]["gradcam"]
    assert g["activation"] == ["encoder1", "decoder5"]
    assert g["paper_bilinear"] == ["decoder5", "encoder1"] and g["changed"] is True
    assert rank["better_method_per_layer"]["encoder1"]["activation"] == "gradcam"


def test_sensitivity_section(doc):
    s = doc["sensitivity"]
    assert s["radius"] == EvaluateConfig().sensitivity_radius and s["n_images"] == 8
    assert s["functions"] == {
        "stable": "border_mean", "shaky": "border_mean", "gradcam@decoder5": "border_mean",
        "gradcam@encoder1": "border_mean", "sampled": "sample_mean(32)",
    }  # fmt: skip
    assert list(s["model"]) == ["stable", "shaky", "sampled"]
    assert list(s["layer"]["gradcam"]) == LAYERS and s["model"]["stable"]["n"] == 8
    assert s["pairwise_model"]["stable_vs_shaky"]["better"] == "stable"


def test_the_document_is_a_view_of_the_stored_table(tmp_path, doc):
    """Written to parquet and read back, the table renders the same document."""
    table(toy_table(), toy_sens()).to_parquet(tmp_path / "results.parquet")
    back = fragility_document(Results(pd.read_parquet(tmp_path / "results.parquet")), ctx())
    assert json.dumps(back) == json.dumps(doc)


def test_without_rows_the_tables_are_empty():
    empty = fragility_document(Results(table(pd.DataFrame(), pd.DataFrame())), ctx())
    assert empty["infidelity"] == {} and empty["layer_ranking"] == {}
    s = empty["sensitivity"]
    assert s["n_images"] == 0 and s["recompute_rel_l2_max"] is None
    assert s["functions"] == s["model"] == s["layer"] == s["pairwise_model"] == {}


def test_layers_are_ranked_by_the_scale_free_normalized_skill():
    """Defect 2: the unnormalized skill of a layer map moves when the layer's units are rescaled
    (test_layer_infidelity), so the ranking of layers reads the normalized skill."""
    df = toy_table()
    flip = df["normalize"] & (df["convention"] == "activation") & (df["method"] == "gradcam")
    swap = {LAYERS[0]: LAYERS[1], LAYERS[1]: LAYERS[0]}
    df.loc[flip, "layer"] = df.loc[flip, "layer"].map(swap)
    d = fragility_document(Results(table(df, toy_sens())), ctx())
    rank = d["layer_ranking"]["sigma_0p03"]["by_method"]["gradcam"]
    block = d["infidelity"]["sigma_0p03"]
    assert rank["activation"] == LAYERS[::-1]
    for setting, order in (("normalized", LAYERS[::-1]), ("unnormalized", LAYERS)):
        skill = {k: b["skill_ratio_of_means"]["ratio_of_means"]
                 for k, b in block[setting]["layer"]["gradcam"].items()}  # fmt: skip
        assert sorted(skill, key=lambda k: -skill[k]) == list(order)
    assert rank["activation"] == rank["paper_bilinear"] and rank["changed"] is False
