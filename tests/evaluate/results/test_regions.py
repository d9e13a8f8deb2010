import numpy as np
import pandas as pd
import pytest
from evaluate.test_regions import _square

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.regions import region_masks, region_mass
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.regions import rows
from seginterp.evaluate.results.table import Key, Results, frame
from seginterp.evaluate.stats import summary

LAYERS = ["encoder1", "encoder2", "encoder3", "encoder4", "bottleneck", "decoder1"]


def measured(layers=LAYERS, **tables: pd.DataFrame) -> Measured:
    """A Measured of the given per-image tables (the others empty), 100 bootstrap draws."""
    empty = {n: pd.DataFrame() for n in ("frag", "sens", "regions", "null", "sanity")}
    return Measured(**{**empty, **tables}, segmentation=None, layer_order=layers,
                    cfg=EvaluateConfig(bootstrap=100))  # fmt: skip


def toy_regions(n_img: int = 6) -> pd.DataFrame:
    """Layer gradcam maps whose band share grows with depth; a saliency map with the claim's
    signs on every image."""
    m, b = _square()
    masks = region_masks(m, b, 1)
    out = []
    for i in range(n_img):
        for d, layer in enumerate(LAYERS):
            attr = np.full(m.shape, -0.1)
            attr[masks["band"]] = 1.0 + d + 0.1 * i  # deeper: more mass on the band
            out.append({"id": f"i{i}", "level": "layer", "method": "gradcam", "layer": layer,
                        **region_mass(attr, masks), "native_abs_mass": float(d + i)})  # fmt: skip
        sal = region_mass(np.where(masks["band"], 1.0, -1.0), masks)
        out.append({"id": f"i{i}", "level": "model", "method": "saliency", "layer": None, **sal})
    return pd.DataFrame(out)


def test_region_rows_are_the_block_statistics():
    df = toy_regions()
    res = Results(frame(rows(measured(regions=df))))
    sal = Key("regions", level="model", method="saliency")
    assert res.value(sal.but(quantity="n")) == 6 and res.value(sal.but(quantity="n_claim")) == 6
    assert res.value(sal.but(quantity="band_n_positive")) == 6
    assert res.value(sal.but(quantity="inside_n_negative")) == 6
    got = res.summary(sal.but(quantity="band_abs_share"))
    model = df[df["level"] == "model"]
    assert got == summary(model["band_abs_share"].to_numpy(), 100, 0)
    assert res.get(sal.but(quantity="native_abs_mass"), "mean") is None  # model maps: none
    enc1 = Key("regions", level="layer", method="gradcam", layer="encoder1")
    assert res.get(enc1.but(quantity="native_abs_mass"), "mean")["n"] == 6
    layers = res.select(section="regions", level="layer", quantity="n", stat="point")
    assert [r["layer"] for r in layers] == LAYERS  # network order


def test_depth_trend_rows():
    res = Results(frame(rows(measured(regions=toy_regions()))))
    key = Key("regions", quantity="depth_rho", level="layer", method="gradcam")
    assert res.summary(key)["mean"] == pytest.approx(1.0)
    assert res.value(key.but(quantity="depth_rho_n_positive")) == 6
    assert res.value(key.but(quantity="depth_rho_n")) == 6
    few = rows(measured(["encoder1", "encoder2"], regions=toy_regions()))
    assert not [r for r in few if r["quantity"].startswith("depth_rho")]  # < 3 encoder layers


def test_no_region_rows_without_regions():
    assert rows(measured(regions=pd.DataFrame())) == []
