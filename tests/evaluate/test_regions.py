import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.regions import (
    REGIONS,
    coverage,
    depth_rhos,
    depth_trend,
    encoder_layers,
    region_masks,
    region_mass,
)
from seginterp.explain.borders import border_pixels


def _square(n: int = 12, lo: int = 3, hi: int = 9) -> tuple[np.ndarray, np.ndarray]:
    m = np.zeros((n, n), dtype=bool)
    m[lo:hi, lo:hi] = True
    return m, border_pixels(m)


def test_regions_partition_the_image_and_band_is_a_city_block_dilation():
    m, b = _square()
    for w in (0, 1, 2):
        r = region_masks(m, b, w)
        total = sum(r[k].astype(int) for k in REGIONS)
        assert (total == 1).all()
        assert (r["band"] >= b).all()
    r0 = region_masks(m, b, 0)
    np.testing.assert_array_equal(r0["band"], b)
    r1 = region_masks(m, b, 1)
    assert r1["band"][2, 3] and r1["band"][4, 4]  # one step outside and one inside
    assert not r1["band"][2, 2]  # diagonal neighbour of a corner: city-block distance 2
    assert not r1["inside"][4, 4] and r1["inside"][5, 5]
    with pytest.raises(ValueError, match="band_width"):
        region_masks(m, b, -1)


def test_hand_made_map_shares_and_signs():
    m, b = _square()
    r = region_masks(m, b, 0)
    attr = np.zeros(m.shape)
    attr[r["band"]] = 2.0  # 20 band pixels: +40
    attr[r["inside"]] = -1.0  # 16 inside pixels: -16
    attr[0, 0] = 4.0  # one outside pixel: +4
    out = region_mass(attr, r)
    assert out["band_pos"] == 40 and out["inside_neg"] == 16 and out["outside_pos"] == 4
    for q in ("pos_share", "abs_share"):
        assert sum(out[f"{k}_{q}"] for k in REGIONS) == pytest.approx(1.0)
    assert out["inside_neg_share"] == 1.0
    assert out["band_pos_share"] == pytest.approx(40 / 44)
    assert out["band_net_share"] == pytest.approx(40 / 60) and out["band_net"] > 0
    assert out["inside_net_share"] == pytest.approx(-16 / 60) and out["inside_net"] < 0
    assert sum(out[f"{k}_net_share"] for k in REGIONS) == pytest.approx((44 - 16) / 60)
    assert out["band_area_share"] == pytest.approx(20 / 144)
    assert out["band_enrichment"] == pytest.approx((40 / 60) / (20 / 144))
    assert out["claim"] is True
    # (C, H, W) maps are summed over channels; the opposite sign pattern fails the claim
    flipped = region_mass(np.stack([-attr / 2, -attr / 2]), r)
    assert flipped["claim"] is False and flipped["band_neg"] == pytest.approx(40)
    assert flipped["band_pos_share"] is None or flipped["band_pos_share"] == 0.0


def test_all_zero_map_has_null_shares():
    m, b = _square()
    out = region_mass(np.zeros(m.shape), region_masks(m, b, 1))
    assert out["band_abs_share"] is None and out["band_pos_share"] is None
    assert out["claim"] is False


def test_depth_trend_per_image():
    layers = ["encoder1", "encoder2", "encoder3", "encoder4", "bottleneck", "decoder1"]
    assert encoder_layers(layers, layers[::-1]) == layers[:5]
    m, b = _square()
    masks = region_masks(m, b, 1)
    rows = []
    for i in range(4):
        for d, layer in enumerate(layers):
            attr = np.full(m.shape, -0.1)
            attr[masks["band"]] = 1.0 + (d if i else 5 - d)  # deeper: more on the band (not i0)
            rows.append({"id": f"i{i}", "layer": layer, **region_mass(attr, masks)})
    rhos = depth_rhos(pd.DataFrame(rows), layers)
    assert list(rhos.index) == ["i0", "i1", "i2", "i3"]
    assert rhos.tolist() == pytest.approx([-1.0, 1.0, 1.0, 1.0])
    trend = depth_trend({k: [0.1 * d, 0.2] for d, k in enumerate(layers[:3])})
    assert trend["layers"] == layers[:3] and trend["rho_per_image"] == [1.0, 0.0]  # flat: 0
    assert trend["n_positive"] == 1 and trend["n"] == 2
    assert depth_trend({"a": [0.1], "b": [0.2]})["n"] == 0  # fewer than 3 layers: no trend
    assert not len(depth_rhos(pd.DataFrame(rows), layers[:2]))


def test_coverage_counts_the_pixels_holding_most_of_the_mass():
    a = np.zeros((10, 10))
    a[0, :5] = 1.0  # 5 of 100 pixels hold all the mass
    assert coverage(a) == pytest.approx(0.05)
    assert coverage(np.ones((10, 10))) == pytest.approx(0.9)
    assert coverage(np.zeros((4, 4))) is None
    m, b = _square()
    assert region_mass(np.ones(m.shape), region_masks(m, b, 1))["coverage_90"] == pytest.approx(
        130 / 144
    )
