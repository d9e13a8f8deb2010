import pandas as pd
import pytest
from evaluate.results.test_null import toy_null
from evaluate.results.test_regions import LAYERS, measured, toy_regions

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.regions import REGIONS
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.render.regions import REGIONS_DOC, regions_document
from seginterp.evaluate.results import null, regions
from seginterp.evaluate.results.table import Results, frame

COUNTS = {"n_images": 6, "n_evaluated": 6}


def _doc(regions_df: pd.DataFrame, null_df: pd.DataFrame) -> dict:
    m = measured(regions=regions_df, null=null_df)
    res = Results(frame(regions.rows(m) + null.rows(m)))
    return regions_document(res, Context("toy", None, EvaluateConfig(), COUNTS, LAYERS))


def test_regions_document_blocks_focus_and_trend():
    doc = _doc(toy_regions(), toy_null())
    assert list(doc)[:4] == ["band_width", "regions", "n_images", "n_evaluated"]
    assert doc["regions"] == REGIONS_DOC
    assert list(doc)[4:] == ["model", "layer", "border_focus", "encoder_depth_trend", "null"]
    sal = doc["model"]["saliency"]
    assert sal["n"] == 6 and sal["n_claim_band_positive_inside_negative"] == 6
    assert isinstance(sal["n"], int) and isinstance(sal["band"]["n_positive"], int)
    assert list(sal) == ["n", *REGIONS, "n_band_positive", "n_inside_negative",
                         "n_claim_band_positive_inside_negative", "coverage_90"]  # fmt: skip
    assert sal["band"]["abs_share"]["n"] == 6 and sal["n_band_positive"] == 6
    assert list(sal["band"])[-2:] == ["n_positive", "n_negative"]
    assert "native_abs_mass" in doc["layer"]["gradcam"]["encoder1"]
    focus = doc["border_focus"]["gradcam"]
    assert list(focus) == LAYERS and focus["encoder1"] < focus["bottleneck"]
    assert focus["encoder1"] == doc["layer"]["gradcam"]["encoder1"]["band"]["abs_share"]["mean"]
    trend = doc["encoder_depth_trend"]["gradcam"]
    assert trend["layers"] == LAYERS[:5] and trend["n_positive"] == 6 and trend["n"] == 6
    assert trend["rho"]["mean"] == pytest.approx(1.0)


def test_null_section():
    doc = _doc(toy_regions(), toy_null())["null"]
    assert list(doc) == ["n_images", "model", "layer", "encoder_depth_trend"]
    assert doc["n_images"] == 8 and list(doc["model"]) == ["deeplift", "saliency"]
    dl = doc["model"]["deeplift"]
    assert list(dl) == ["n", "trained", "randomized", "test"]
    assert dl["test"]["better"] == "trained" and dl["trained"]["mean"] > dl["randomized"]["mean"]
    assert list(doc["layer"]["gradcam"]) == LAYERS
    trend = doc["encoder_depth_trend"]["gradcam"]
    assert trend["n"] == 8 and trend["test"]["better"] == "trained"
    one = toy_null()
    one = one[~((one["method"] == "deeplift") & (one["weights"] == "randomized"))]
    assert _doc(toy_regions(), one)["null"]["model"]["deeplift"] == {"n": 0}


def test_empty_tables_give_the_empty_document():
    doc = _doc(pd.DataFrame(), pd.DataFrame())
    assert doc["null"] == {"n_images": 0, "model": {}, "layer": {}, "encoder_depth_trend": {}}
    assert "model" not in doc and "border_focus" not in doc
    shallow = toy_regions().query("layer in [None, 'encoder1', 'encoder2', 'decoder1']")
    few = _doc(shallow, pd.DataFrame())
    assert list(few["layer"]["gradcam"]) == ["encoder1", "encoder2", "decoder1"]
    assert few["encoder_depth_trend"] == {"gradcam": None}  # < 3 encoder layers: no trend
