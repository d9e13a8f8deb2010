import numpy as np
import pandas as pd
import torch
from evaluate.test_regions import _square
from evaluate.toys import S, square_border, tiny_unet

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.null import aggregate_null
from seginterp.evaluate.randomized import MapPair, randomize_weights, randomized_pairs
from seginterp.evaluate.regions import null_region_rows, region_masks
from seginterp.explain.store import ImageMaps, MapKey


def test_null_rows_pair_the_trained_and_randomized_maps():
    """Defect 8 (regions need a null): a share the support alone gives is not learned."""
    m, b = _square()
    band = region_masks(m, b, 1)["band"]
    rows = []
    for i in range(8):
        trained = np.where(band, 1.0, 0.05)  # mass on the band
        flat = np.full(m.shape, 1.0) + 0.01 * i  # the null: spread everywhere
        pairs = [
            MapPair(MapKey("deeplift"), "one-pass", "border_mean", trained, flat),
            MapPair(MapKey("saliency"), "one-pass", "border_mean", trained, trained),
        ]
        rows += null_region_rows(f"i{i}", i, pairs, m, b, 1)
    df = pd.DataFrame(rows)
    assert set(df["weights"]) == {"trained", "randomized"} and len(df) == 32
    out = aggregate_null(df, [], n_boot=100, seed=0, alpha=0.05)
    assert out["n_images"] == 8
    dl, sal = out["model"]["deeplift"], out["model"]["saliency"]
    assert dl["trained"]["mean"] > dl["randomized"]["mean"]
    assert dl["test"]["better"] == "trained" and dl["test"]["testable"]
    assert sal["test"]["better"] is None  # support alone gives the same share


def test_randomized_pairs_explain_the_same_function_with_both_models():
    from seginterp.explain.config import AttributeConfig
    from seginterp.explain.engine import Explainer

    acfg = AttributeConfig(
        methods=("saliency",), layer_methods=("gradcam",), layers=("decoder5",), device="cpu"
    )
    trained = Explainer(tiny_unet(), acfg, device="cpu")
    randomized = Explainer(randomize_weights(trained.model, 0), acfg, device="cpu")
    border = square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    recs = trained.explain(x, border)
    stored = ImageMaps(border, "ok")
    for r in recs:
        key = MapKey(r.method, r.layer)
        stored.maps[key], stored.modes[key] = r.map, r.mode
    keys = [MapKey("saliency"), MapKey("gradcam", "decoder5"), MapKey("absent")]
    pairs = randomized_pairs(trained, randomized, x, "im", stored, keys, EvaluateConfig())
    assert [p.key for p in pairs] == keys[:2]
    sal, cam = pairs
    assert sal.trained.shape == sal.randomized.shape == (3, S, S)
    assert cam.trained.shape == cam.randomized.shape == (S, S)
    assert sal.function == "border_mean"
    assert not np.allclose(sal.trained, sal.randomized)
    again = randomized_pairs(trained, randomized, x, "im", stored, keys, EvaluateConfig())
    np.testing.assert_array_equal(again[0].randomized, sal.randomized)
