import numpy as np
import torch
from evaluate.toys import S, square_border, tiny_unet

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.randomized import randomize_weights, randomized_pairs
from seginterp.explain.store import ImageMaps, MapKey


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
