import copy

import numpy as np
import pandas as pd
import pytest
import torch
from captum.attr import Saliency
from captum.metrics import infidelity as captum_infidelity
from torch import nn

from seginterp.fragility import (
    EvaluateConfig,
    ScoredMap,
    aggregate_infidelity,
    broadcast_map,
    captum_perturb_func,
    chance_skill,
    evaluate_config_from_params,
    image_seed,
    infidelity_scores,
    pixel_weights,
    score_maps,
    sensitivity,
    sigma_key,
    tuple_explainer,
)
from seginterp.params import ParamsError, load_params, stage_section

S = 32


def _border() -> np.ndarray:
    b = np.zeros((S, S), dtype=bool)
    b[8, 8:24] = b[23, 8:24] = b[8:24, 8] = b[8:24, 23] = True
    return b


def _tiny_unet(seed: int = 0) -> nn.Module:
    from seginterp.model import ModelConfig, build_model

    torch.manual_seed(seed)
    return build_model(ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))).eval()


def _border_f(model: nn.Module, border: np.ndarray) -> nn.Module:
    try:
        from seginterp.attribution import border_mean_logit
    except ImportError:  # pragma: no cover - attribution package not present yet
        w = pixel_weights(border).float()

        class F(nn.Module):
            def forward(self, x):
                return (model(x)[:, 0] * w.to(x)).sum(dim=(1, 2))

        return F()
    dtype = next(model.parameters()).dtype  # its weight buffer is float32 unless converted
    return border_mean_logit(model, border).to(dtype)


@pytest.fixture(scope="module")
def unet():
    return _tiny_unet()


@pytest.fixture(scope="module")
def unet64(unet):
    """float64 twin: checks of equal formulas without float32 cancellation in f(x) − f(x − I)."""
    return copy.deepcopy(unet).double()


def _maps(model, x, border):
    """saliency (3,H,W), a random model-level map, a layer-like (H,W) map, the zero map."""
    f = _border_f(model, border)
    sal = Saliency(f).attribute(x.clone(), abs=False)[0].detach()
    g = torch.Generator().manual_seed(5)
    return {
        "model/saliency": sal,
        "model/random": torch.randn(3, S, S, generator=g) * sal.abs().max(),
        "layer/fake/encoder1": torch.randn(S, S, generator=g) * sal.abs().max(),
        "model/zero": torch.zeros(3, S, S),
    }


@pytest.mark.parametrize(
    "dtype,images,sigmas,rtol",
    [(torch.float64, (0, 1), (0.03,), 1e-6), (torch.float32, (2,), (0.03, 0.1), 2e-3)],
)
def test_matches_captum_infidelity(unet, unet64, dtype, images, sigmas, rtol):
    """Same perturbation function and seed as captum.metrics.infidelity; float64 removes the
    float32 cancellation in f(x) − f(x − I), so the formulas must agree to 1e-6 there (the rest:
    BorderMeanLogit keeps 1/|B| as a float32 buffer, a constant relative factor ~6e-8)."""
    model = unet64 if dtype == torch.float64 else unet
    border = _border()
    n, seed = 16, image_seed(0, "img")
    f = _border_f(model, border)
    for img_seed in images:
        x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(img_seed)).to(dtype)
        maps = _maps(model, x, border)
        recs = score_maps(
            model,
            x,
            [ScoredMap(k, v.to(dtype)) for k, v in maps.items()],
            pixel_weights(border)[None],
            sigmas=sigmas,
            n_perturb_samples=n,
            seed=seed,
        )
        assert len(recs) == len(maps) * len(sigmas)
        for r in recs:
            attr = broadcast_map(maps[r["key"]]).to(dtype)[None]
            for normalize, ours in ((False, "infidelity"), (True, "infidelity_normalized")):
                ref = captum_infidelity(
                    f,
                    captum_perturb_func(r["sigma"], seed),
                    x,
                    attr,
                    n_perturb_samples=n,
                    normalize=normalize,
                ).item()
                assert r[ours] == pytest.approx(ref, rel=rtol, abs=rtol * r["zero"]), (
                    r["key"],
                    r["sigma"],
                    normalize,
                )


def test_zero_map_scores_mean_squared_delta(unet64):
    unet = unet64
    border = _border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(3)).double()
    n, seed, sigma = 12, 7, 0.05
    recs = score_maps(
        unet,
        x,
        [ScoredMap("model/zero", torch.zeros(3, S, S))],
        pixel_weights(border)[None],
        [sigma],
        n,
        seed,
        batch_size=5,  # batching must not change anything
    )
    f = _border_f(unet, border)
    noise = captum_perturb_func(sigma, seed)(x.repeat(n, 1, 1, 1))[0]
    with torch.no_grad():
        delta = (f(x) - f(x - noise)).double()
    (r,) = recs
    e = float((delta**2).mean())
    assert r["zero"] == pytest.approx(e, rel=1e-6)  # 1/|B| is a float32 buffer in f
    assert r["infidelity"] == r["zero"]
    assert r["infidelity_normalized"] == r["zero"]  # β = 0 (Captum safe_div)
    assert r["skill"] == 0.0 and r["skill_normalized"] == 0.0 and r["beta"] == 0.0


def test_gradient_of_a_linear_model_has_zero_infidelity_and_skill_one():
    torch.manual_seed(0)
    lin = nn.Conv2d(3, 1, 1).eval()  # z = w · x + b per pixel: f is linear in x
    border = _border()
    x = torch.rand(1, 3, S, S)
    f = _border_f(lin, border)
    grad = Saliency(f).attribute(x, abs=False)[0].detach()
    recs = score_maps(
        lin,
        x,
        [ScoredMap("model/saliency", grad), ScoredMap("model/half", grad / 2)],
        pixel_weights(border)[None],
        [0.03],
        50,
        0,
    )
    exact, half = recs
    assert exact["infidelity"] == pytest.approx(0.0, abs=1e-9 * exact["zero"])
    assert exact["skill"] == pytest.approx(1.0, abs=1e-6)
    assert exact["skill_normalized"] == pytest.approx(1.0, abs=1e-6)
    # a rescaled gradient: unnormalized skill = 1 − 1/4, normalize=True recovers β = 2
    assert half["skill"] == pytest.approx(0.75, abs=1e-5)
    assert half["beta"] == pytest.approx(2.0, rel=1e-5)
    assert half["skill_normalized"] == pytest.approx(1.0, abs=1e-6)


def test_infidelity_scores_formula_and_chance_level():
    rng = np.random.default_rng(0)
    n, k = 50, 2000
    b = torch.from_numpy(rng.normal(size=n))
    a = torch.from_numpy(rng.normal(size=(k, n)))  # projections unrelated to b
    s = infidelity_scores(a, b)
    manual = ((a - b) ** 2).mean(1)
    torch.testing.assert_close(s["infidelity"], manual)
    assert (s["infidelity_normalized"] <= s["zero"] + 1e-12).all()
    # normalized skill of unrelated maps averages 1/n, not 0
    assert float(s["skill_normalized"].mean()) == pytest.approx(chance_skill(n, True), rel=0.1)
    assert chance_skill(n, False) == 0.0


def test_layer_maps_broadcast_over_channels(unet):
    border = _border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(4))
    layer = torch.randn(S, S, generator=torch.Generator().manual_seed(9))
    args = (pixel_weights(border)[None], [0.03], 8, 1)
    (a,) = score_maps(unet, x, [ScoredMap("layer/x/y", layer)], *args)
    (b,) = score_maps(unet, x, [ScoredMap("model/x", layer.expand(3, S, S).clone())], *args)
    for key in ("infidelity", "infidelity_normalized", "zero", "map_l2"):
        assert a[key] == pytest.approx(b[key], rel=1e-9)


def test_sampled_map_is_scored_against_its_own_function(unet):
    border = _border()
    sample = np.zeros_like(border)
    sample[8, 8:16] = True
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(2))
    weights = torch.stack([pixel_weights(border), pixel_weights(sample)])
    zero = torch.zeros(3, S, S)
    full, own = score_maps(
        unet,
        x,
        [ScoredMap("model/a", zero, 0), ScoredMap("model/b", zero, 1)],
        weights,
        [0.05],
        8,
        0,
    )
    f_own = _border_f(unet, sample)
    noise = captum_perturb_func(0.05, 0)(x.repeat(8, 1, 1, 1))[0]
    with torch.no_grad():
        e = float(((f_own(x) - f_own(x - noise)).double() ** 2).mean())
    assert own["zero"] == pytest.approx(e, rel=1e-5)
    assert full["zero"] != pytest.approx(e, rel=1e-2)


def test_sensitivity_uses_a_tuple_explainer():
    torch.manual_seed(0)
    lin = nn.Conv2d(3, 1, 1).eval()
    border = _border()
    f = _border_f(lin, border)

    def grad(x):
        return Saliency(f).attribute(x, abs=False)

    x = torch.rand(1, 3, S, S)
    out = tuple_explainer(grad)((x,))
    assert isinstance(out, tuple) and out[0].shape == (1, 3, S, S)
    assert sensitivity(grad, x, 0.02, 3, seed=0) == pytest.approx(0.0, abs=1e-6)

    def input_times_grad(x):  # depends on x: perturbations move the map
        return x * grad(x)

    s1 = sensitivity(input_times_grad, x, 0.02, 3, seed=0)
    assert s1 > 1e-3
    assert s1 == sensitivity(input_times_grad, x, 0.02, 3, seed=0)  # seeded


def test_config_from_params_yaml():
    from pathlib import Path

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    for d in params["datasets"]:
        cfg = evaluate_config_from_params(stage_section(params, d, "evaluate"))
        assert cfg.n_perturb_samples >= 50
    with pytest.raises(ParamsError, match="valid keys"):
        evaluate_config_from_params({"infidelity_sigmas": [0.03]})
    with pytest.raises(ValueError, match="positive"):
        EvaluateConfig(infidelity_sigma=(0.0,))
    assert sigma_key(0.03) == "sigma_0p03"


def _toy_table(n_img: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_img):
        zero = rng.uniform(1, 2)
        for norm in (False, True):
            vals = {
                ("model", "good", None): zero * 0.2,
                ("model", "empty", None): zero * rng.uniform(0.98, 1.02),
                ("layer", "gradcam", "encoder1"): zero * 0.5,
                ("layer", "deeplift", "encoder1"): zero * 0.9,
                ("layer", "gradcam", "decoder5"): zero * 0.6,
                ("layer", "deeplift", "decoder5"): zero * 0.6 * rng.uniform(0.9, 1.1),
            }
            for (level, method, layer), v in vals.items():
                rows.append(
                    {
                        "id": f"i{i}",
                        "sigma": 0.03,
                        "normalize": norm,
                        "level": level,
                        "method": method,
                        "layer": layer,
                        "mode": "one-pass",
                        "scored_function": "border_mean",
                        "function_mismatch": False,
                        "infidelity": v,
                        "zero": zero,
                        "skill": 1 - v / zero,
                        "map_l2": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def test_aggregate_infidelity_tables():
    layers = ["encoder1", "decoder5"]
    out = aggregate_infidelity(_toy_table(), layers, n_perturb_samples=50, n_boot=200)
    blk = out["sigma_0p03"]
    u = blk["unnormalized"]
    assert u["model"]["good"]["skill"]["mean"] == pytest.approx(0.8)
    assert u["model"]["good"]["verdict"] == "better than an empty map"
    assert u["model"]["empty"]["no_better_than_empty_map"] is True
    assert u["model"]["empty"]["verdict"] == "no better than an empty map"
    assert u["model"]["good"]["infidelity"]["n"] == 12
    assert u["pairwise_model"]["good_vs_empty"]["better"] == "good"
    assert list(u["layer"]["gradcam"]) == layers
    pl = u["pairwise_layer"]
    assert pl["gradcam@encoder1_vs_deeplift@encoder1"]["better"] == "gradcam@encoder1"
    assert pl["gradcam@decoder5_vs_deeplift@decoder5"]["better"] is None
    assert u["pairwise_layer_method_overall"]["gradcam_vs_deeplift"]["better"] == "gradcam"
    n = blk["normalized"]
    assert n["model"]["empty"]["chance_skill"] == pytest.approx(0.02)
    assert n["model"]["empty"]["no_better_than_chance"] is True
    assert "than chance (1/n_perturb_samples)" in n["model"]["empty"]["verdict"]
    assert n["model"]["good"]["verdict"] == "better than chance (1/n_perturb_samples)"


# ---------------------------------------------------------------------------------------------
# the evaluate stage on a tiny pipeline state (attribute stage run first)


def _load_stage(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "stages" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_stage_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


@pytest.mark.slow
def test_evaluate_stage_end_to_end(tmp_path):
    import json

    import yaml
    from click.testing import CliRunner
    from PIL import Image

    from seginterp.borders import border_pixels, border_status
    from seginterp.model import ModelConfig, save_model

    n, size = 4, S
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    truths = np.stack(
        [((yy - 16) ** 2 + (xx - c) ** 2 < 36).astype(np.uint8) for c in (12, 16, 20, 16)]
    )
    images = (rng.uniform(0, 60, (n, size, size, 3)) + truths[..., None] * 150).astype(np.uint8)
    preds = truths.copy()
    preds[1] = 0  # no border: counted, never averaged
    ids = [f"im{i}" for i in range(n)]
    prep, pr, bd, md = (tmp_path / d for d in ("prepared", "predictions", "borders", "model"))
    for d in (prep, pr, bd, md):
        d.mkdir()
    np.save(prep / "test_images.npy", images)
    np.save(prep / "test_masks.npy", truths)
    (prep / "meta.json").write_text(json.dumps({"mean_rgb": [0.3, 0.3, 0.3]}))
    cfg = ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))
    save_model(md / "model.pt", _tiny_unet(), cfg)
    np.save(pr / "masks.npy", preds)
    pd.DataFrame({"id": ids, "index": range(n)}).to_parquet(pr / "per_image.parquet")
    borders = np.stack([border_pixels(p) for p in preds]).astype(np.uint8)
    np.save(bd / "borders.npy", borders)
    pd.DataFrame(
        {
            "id": ids,
            "index": range(n),
            "n_border": borders.reshape(n, -1).sum(1),
            "status": [border_status(p) for p in preds],
        }
    ).to_parquet(bd / "borders.parquet")
    layers = ["encoder1", "bottleneck", "decoder5"]
    params = {
        "datasets": ["t"],
        "t": {
            "attribute": {
                "methods": ["saliency", "deeplift", "guided_backprop"],
                "layer_methods": ["gradcam", "deeplift"],
                "layers": layers,
                "guided_gradcam_layer": "decoder5",
                "nonlinear_mode": "sampled",
                "sample_k": 8,
                "device": "cpu",
            },
            "evaluate": {
                "infidelity_sigma": [0.03, 0.1],
                "n_perturb_samples": 12,
                "sensitivity_max_images": 1,
                "sensitivity_samples": 2,
                "sanity_images": 2,
                "figure_images": 2,
                "bootstrap": 50,
                "recompute_max_pixels": 5,
                "device": "cpu",
            },
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    common = [
        "--dataset",
        "t",
        "--prepared",
        str(prep),
        "--model",
        str(md),
        "--predictions",
        str(pr),
        "--borders",
        str(bd),
        "--params",
        str(tmp_path / "params.yaml"),
    ]
    table = tmp_path / "attributions.parquet"
    res = CliRunner().invoke(
        _load_stage("attribute"),
        [*common, "--out", str(tmp_path / "attr"), "--table", str(table)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    mdir, plots = tmp_path / "metrics", tmp_path / "metrics" / "plots"
    res = CliRunner().invoke(
        _load_stage("evaluate"),
        [
            *common,
            "--attributions",
            str(tmp_path / "attr"),
            "--table",
            str(table),
            "--out",
            str(tmp_path / "eval"),
            "--metrics-dir",
            str(mdir),
            "--plots-dir",
            str(plots),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output

    frag = json.loads((mdir / "fragility.json").read_text())
    assert frag["n_images"] == 4 and frag["n_without_border"] == 1 and frag["n_evaluated"] == 3
    assert frag["without_border_by_status"] == {"empty_prediction": 1}
    blk = frag["infidelity"]["sigma_0p1"]["unnormalized"]
    sal = blk["model"]["saliency"]
    assert sal["infidelity"]["n"] == 3 and sal["mode"] == "one-pass"
    assert {"infidelity", "zero_infidelity", "skill", "verdict"} <= set(sal)
    gbp = blk["model"]["guided_backprop"]
    assert gbp["mode"] == "sampled(8)" and gbp["scored_function"] == "sample_mean(8)"
    assert list(blk["layer"]["gradcam"]) == layers
    assert "saliency_vs_deeplift" in blk["pairwise_model"]
    assert "gradcam@bottleneck_vs_deeplift@bottleneck" in blk["pairwise_layer"]
    sens = frag["sensitivity"]
    assert sens["n_images"] == 1 and set(sens["model"]) == {
        "saliency",
        "deeplift",
        "guided_backprop",
    }
    assert sens["recompute_rel_l2_max"] < 1e-4  # the recomputed maps are the stored ones
    assert sens["functions"]["guided_backprop"] == "sample_mean(5)"  # reduced from sampled(8)
    assert sens["functions"]["saliency"] == "border_mean"  # one-pass: never reduced
    regions = json.loads((mdir / "regions.json").read_text())
    assert regions["model"]["deeplift"]["n"] == 3
    assert list(regions["border_focus"]["gradcam"]) == layers
    sanity = json.loads((mdir / "sanity.json").read_text())
    assert sanity["n_images"] == 2 and len(sanity["methods"]["saliency"]["per_image"]) == 2
    assert sanity["functions"] == {
        "saliency": "border_mean",
        "deeplift": "border_mean",
        "guided_backprop": "sample_mean(5)",
    }

    df = pd.read_parquet(tmp_path / "eval" / "fragility.parquet")
    assert len(df) == 3 * 2 * 2 * (3 + 2 * len(layers))  # images × σ × normalize × maps
    assert set(df["id"]) == {"im0", "im2", "im3"}
    for name in ("maps.png", "layers_gradcam.png", "layers_deeplift.png"):
        with Image.open(plots / "figures" / name) as im:
            assert im.format == "PNG" and (plots / "figures" / name).stat().st_size > 0
    csv = pd.read_csv(plots / "layer_infidelity" / "gradcam.csv")
    assert list(csv["layer"]) == layers and {"layer_index", "infidelity", "skill"} <= set(csv)
    assert list(pd.read_csv(plots / "layer_regions" / "deeplift.csv")["layer"]) == layers
