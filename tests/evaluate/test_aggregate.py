import pandas as pd
from evaluate.test_infidelity_tables import LAYERS, toy_table

from seginterp.evaluate.aggregate import (
    fragility_document,
    image_counts,
    regions_document,
    sanity_document,
    sigma_key,
)
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.sanity import SANITY_COLUMNS
from seginterp.evaluate.sensitivity import SENSITIVITY_COLUMNS


def test_documents_name_their_statistics_and_conventions():
    cfg = EvaluateConfig(bootstrap=100)
    counts = image_counts(pd.Series(["ok"] * 12 + ["empty_prediction"]), 0, 12)
    assert counts["n_without_border"] == 1 and counts["n_evaluated"] == 12
    sens = pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    frag = fragility_document(toy_table(), sens, LAYERS, cfg, counts)
    assert sigma_key(0.03) in frag["infidelity"]
    assert {"skill_ratio_of_means", "skill_per_image_mean"} <= set(frag["statistics"])
    assert set(frag["layer_conventions"]) == {"activation", "paper_bilinear"}
    rank = frag["layer_ranking"]["sigma_0p03"]["by_method"]["gradcam"]
    assert rank["changed"] is True and rank["spearman"] is None  # two layers: no ρ
    regions = regions_document(pd.DataFrame(), pd.DataFrame(), LAYERS, cfg, counts)
    assert regions["null"] == {"n_images": 0, "model": {}, "layer": {}, "encoder_depth_trend": {}}
    sanity = sanity_document(pd.DataFrame(columns=list(SANITY_COLUMNS)), cfg)
    assert sanity["n_images"] == 0 and sanity["methods"] == {}
