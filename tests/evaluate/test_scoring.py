import pandas as pd
import torch
from evaluate.toys import S, square_border, tiny_unet

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.scoring import infidelity_rows
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.store import ImageMaps, MapKey


def test_layer_maps_are_scored_under_both_conventions():
    """Item 2: every layer map gets a paper_bilinear row and an activation row."""
    acfg = AttributeConfig(
        methods=("saliency",),
        layer_methods=("gradcam", "deeplift"),
        layers=("encoder2", "decoder5"),
        device="cpu",
    )
    ex = Explainer(tiny_unet(), acfg, device="cpu")
    border = square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    stored = ImageMaps(border, "ok")
    for r in ex.explain(x, border):
        key = MapKey(r.method, r.layer)
        stored.maps[key], stored.modes[key] = r.map, r.mode
        if r.native is not None:
            stored.natives[key] = r.native
    cfg = EvaluateConfig(infidelity_sigma=(0.03, 0.1), n_perturb_samples=8, device="cpu")
    modules = {k: ex.layer(k) for k in acfg.layers}
    inputs = infidelity_rows(ex.model, x, "im", 0, stored, cfg, modules)
    native = infidelity_rows(ex.model, x, "im", 0, stored, cfg, modules, "activation")
    assert len(inputs) == 2 * 2 * (1 + 4) and len(native) == 2 * 2 * 4  # σ × normalize × maps
    df = pd.DataFrame(inputs + native)
    model = df[df["level"] == "model"]
    assert set(model["convention"]) == {"input"} and (model["perturb_std"] == model["sigma"]).all()
    layer = df[df["level"] == "layer"]
    assert layer.groupby("convention").size().to_dict() == {"activation": 16, "paper_bilinear": 16}
    act = layer[layer["convention"] == "activation"]
    assert (act["perturb_std"] != act["sigma"]).all() and (act["zero"] > 0).all()
    assert df["proj_rms_ratio"].notna().all()
    # maps at one layer share draws and Δf: their zero-map scores are equal
    enc = act[(act["layer"] == "encoder2") & (act["sigma"] == 0.03)]
    assert enc["zero"].nunique() == 1
