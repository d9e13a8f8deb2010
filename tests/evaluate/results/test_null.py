import numpy as np
import pandas as pd
import pytest
from evaluate.results.test_regions import LAYERS, measured
from evaluate.test_regions import _square

from seginterp.evaluate.randomized import MapPair
from seginterp.evaluate.regions import null_region_rows, region_masks
from seginterp.evaluate.results.null import BAND_WHAT, DEPTH_WHAT, rows
from seginterp.evaluate.results.table import HOLM, Key, Results, frame
from seginterp.evaluate.stats import PairSpec, paired_family, summary
from seginterp.explain.store import MapKey


def toy_null(n_img: int = 8) -> pd.DataFrame:
    """deeplift: trained maps on the band, randomized spread everywhere; saliency: the same map
    for both (its support alone gives the share); gradcam layers: trained band share grows with
    depth, randomized shrinks."""
    m, b = _square()
    band = region_masks(m, b, 1)["band"]
    out = []
    for i in range(n_img):
        trained = np.where(band, 1.0, 0.05)
        flat = np.full(m.shape, 1.0) + 0.01 * i
        pairs = [
            MapPair(MapKey("deeplift"), "one-pass", "border_mean", trained, flat),
            MapPair(MapKey("saliency"), "one-pass", "border_mean", trained, trained),
        ]
        for d, k in enumerate(LAYERS):
            up, down = np.where(band, 1.0 + d + 0.1 * i, 0.1), np.where(band, 9.0 - d, 0.1)
            pairs.append(MapPair(MapKey("gradcam", k), "one-pass", "border_mean", up, down))
        out += null_region_rows(f"i{i}", i, pairs, m, b, 1)
    return pd.DataFrame(out)


def test_band_tests_compare_the_trained_and_randomized_model():
    """Defect 8 (regions need a null): a share the support alone gives is not learned."""
    df = toy_null()
    assert set(df["weights"]) == {"trained", "randomized"}
    res = Results(frame(rows(measured(null=df))))
    assert res.value(Key("regions_null", quantity="n_images")) == 8
    dl = Key("regions_null", level="model", method="deeplift")
    share = dl.but(quantity="band_abs_share")
    trained = res.summary(share.but(weights="trained"))
    assert trained["mean"] > res.summary(share.but(weights="randomized"))["mean"]
    assert res.value(dl.but(quantity="n")) == 8
    (test,) = res.family(dl, "band").values()
    assert test["better"] == "trained" and test["testable"] and test["what"] == BAND_WHAT
    sal = Key("regions_null", level="model", method="saliency")
    assert res.family(sal, "band")["trained_vs_randomized"]["better"] is None
    sub = df[(df["method"] == "deeplift")].pivot_table(index="id", columns="weights",
                                                       values="band_abs_share")  # fmt: skip
    assert trained == summary(sub["trained"].to_numpy(), 100, 0)
    t, r = sub["trained"].to_numpy(), sub["randomized"].to_numpy()
    spec = PairSpec("trained", "randomized", t, r, BAND_WHAT, lower_is_better=False)
    assert test == {"stat": HOLM, **paired_family([spec])["trained_vs_randomized"]}
    enc1 = Key("regions_null", level="layer", method="gradcam", layer="encoder1")
    assert res.family(enc1, "band")["trained_vs_randomized"]["n"] == 8


def test_depth_trend_test():
    res = Results(frame(rows(measured(null=toy_null()))))
    key = Key("regions_null", quantity="depth_rho", level="layer", method="gradcam")
    assert res.summary(key.but(weights="trained"))["mean"] == pytest.approx(1.0)
    assert res.summary(key.but(weights="randomized"))["mean"] == pytest.approx(-1.0)
    assert res.value(key.but(quantity="depth_rho_n")) == 8
    (test,) = res.family(key, "depth_trend").values()
    assert test["better"] == "trained" and test["what"] == DEPTH_WHAT
    assert not res.family(key, "band")  # the band tests are per layer


def test_a_map_of_one_model_only_has_no_test():
    df = toy_null()
    df = df[~((df["method"] == "deeplift") & (df["weights"] == "randomized"))]
    out = rows(measured(null=df))
    dl = [r for r in out if r["method"] == "deeplift"]
    assert len(dl) == 1 and dl[0]["quantity"] == "n" and dl[0]["estimate"] == 0


def test_empty_null_has_only_its_image_count():
    (row,) = rows(measured(null=pd.DataFrame()))
    assert row["quantity"] == "n_images" and row["estimate"] == 0
