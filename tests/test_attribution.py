"""Border-pixel explanations (DESIGN §2): one-pass == per-pixel mean, exact == Captum loop,
sampling, registries, and the attribute stage with images without a border."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from captum.attr import (
    DeepLift,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerDeepLift,
    LayerGradCam,
    Saliency,
)
from click.testing import CliRunner

from seginterp.attribution import (
    LAYER_METHODS,
    METHODS,
    AttributeConfig,
    Explainer,
    PixelLogits,
    attribute_config_from_params,
    border_mean_logit,
    make_baseline,
)
from seginterp.borders import border_pixels
from seginterp.layers import LAYERS, captum_safe, get_layer
from seginterp.model import ModelConfig, build_model, save_model
from seginterp.params import ParamsError
from seginterp.registry import UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
S = 32  # image side
IG_STEPS = 8
CHUNK = 16


@pytest.fixture(autouse=True)
def _quiet():
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _blobs(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images with one bright disc each; masks (n, 1, size, size)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cy, cx = torch.randint(10, size - 10, (2, n), generator=g)
    r = torch.randint(5, 9, (n,), generator=g)
    masks = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2 < r[:, None, None] ** 2
    masks = masks.float()[:, None]
    imgs = 0.3 + 0.4 * masks * torch.tensor([0.9, 0.5, 0.3]).view(1, 3, 1, 1)
    imgs = (imgs + 0.08 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    return imgs, masks


@pytest.fixture(scope="module")
def trained():
    """A briefly trained resnet18 U-Net (a few Adam steps), its Captum-safe copy, an image and
    the border of its disc."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 8, 8)))
    imgs, masks = _blobs(8, S, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(6):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(imgs), masks).backward()
        opt.step()
    model.eval()
    border = border_pixels(masks[0, 0].numpy())
    assert 20 <= border.sum() <= 80
    return model, captum_safe(model), imgs[:1].clone(), border


def _cfg(**kw) -> AttributeConfig:
    base = dict(
        methods=tuple(METHODS.names()),
        layer_methods=tuple(LAYER_METHODS.names()),
        layers=tuple(LAYERS.names()),
        ig_steps=IG_STEPS,
        chunk_size=CHUNK,
        device="cpu",
        deeplift_baseline="blur",
    )
    base.update(kw)
    return AttributeConfig(**base)


def _per_pixel_mean(attribute, x: torch.Tensor, border: np.ndarray, **kw) -> torch.Tensor:
    """Plain Captum loop: mean over border pixels q of attribute(x, target=q) (batches of
    replicated inputs; baselines replicated alike)."""
    idx = np.flatnonzero(border.ravel())
    total = None
    for s in range(0, len(idx), CHUNK):
        t = [int(i) for i in idx[s : s + CHUNK]]
        rep = {k: v.expand(len(t), *v.shape[1:]) for k, v in kw.items() if torch.is_tensor(v)}
        other = {k: v for k, v in kw.items() if not torch.is_tensor(v)}
        a = attribute(x.expand(len(t), *x.shape[1:]).clone(), target=t, **rep, **other)
        a = a.detach().sum(0, keepdim=True)
        total = a if total is None else total + a
    return total / len(idx)


def _rel(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / b.norm())


def _records(explainer: Explainer, x, border) -> dict[str, object]:
    return {r.key: r for r in explainer.explain(x, border)}


@pytest.fixture(scope="module")
def records(trained):
    _, safe, x, border = trained
    ex = Explainer(safe, _cfg())
    return ex, _records(ex, x, border)


@pytest.mark.parametrize(
    "method", ["saliency", "input_x_gradient", "integrated_gradients", "deeplift"]
)
def test_one_pass_equals_mean_of_per_pixel_maps(trained, records, method):
    _, safe, x, border = trained
    ex, recs = records
    rec = recs[f"model/{method}"]
    assert rec.mode == "one-pass" and rec.n_border == rec.n_explained == border.sum()
    pix = PixelLogits(safe)
    x0 = ex.baseline(x)
    ref = {
        "saliency": lambda: _per_pixel_mean(Saliency(pix).attribute, x, border, abs=False),
        "input_x_gradient": lambda: _per_pixel_mean(InputXGradient(pix).attribute, x, border),
        "integrated_gradients": lambda: _per_pixel_mean(
            IntegratedGradients(pix).attribute, x, border, baselines=x0, n_steps=IG_STEPS
        ),
        "deeplift": lambda: _per_pixel_mean(DeepLift(pix).attribute, x, border, baselines=x0),
    }[method]()
    assert rec.map.shape == (3, S, S) and rec.map.dtype == np.float32
    assert _rel(rec.map, ref[0]) <= 1e-5


@pytest.mark.parametrize("layer", LAYERS.names())
def test_layer_one_pass_equals_mean_of_per_pixel_maps(trained, records, layer):
    _, safe, x, border = trained
    ex, recs = records
    pix, module = PixelLogits(safe), get_layer(safe, layer)
    x0 = ex.baseline(x)
    gc = _per_pixel_mean(LayerGradCam(pix, module).attribute, x, border, relu_attributions=False)
    dl_full = _per_pixel_mean(LayerDeepLift(pix, module).attribute, x, border, baselines=x0)
    # the linearity claim holds channel by channel (before the channel sum, which may cancel)
    one_pass_full = LayerDeepLift(border_mean_logit(safe, border), module).attribute(x, x0)
    assert _rel(one_pass_full, dl_full) <= 1e-5
    dl = dl_full.sum(1, keepdim=True)
    for name, ref, scale in (("gradcam", gc, gc.norm()), ("deeplift", dl, dl_full.norm())):
        rec = recs[f"layer/{name}/{layer}"]
        assert rec.mode == "one-pass"
        assert rec.native.shape == tuple(ref.shape[-2:]) and rec.map.shape == (S, S)
        err = (torch.as_tensor(rec.native) - ref[0, 0]).norm()
        assert err <= 1e-5 * scale, (name, float(err), float(scale))
        up = F.interpolate(ref, size=(S, S), mode="bilinear", align_corners=False)
        err_up = (torch.as_tensor(rec.map) - up[0, 0]).norm()
        ratio = (up.numel() / ref.numel()) ** 0.5  # norms grow with the pixel count
        assert err_up <= 1e-5 * max(float(up.norm()), float(scale) * ratio), name


def test_exact_guided_methods_equal_the_captum_loop(trained, records):
    _, safe, x, border = trained
    _, recs = records
    pix = PixelLogits(safe)
    gbp = _per_pixel_mean(GuidedBackprop(pix).attribute, x, border)
    ggc = _per_pixel_mean(GuidedGradCam(pix, get_layer(safe, "decoder5")).attribute, x, border)
    for key, ref in (("model/guided_backprop", gbp), ("model/guided_gradcam", ggc)):
        rec = recs[key]
        assert rec.mode == "exact" and rec.shared and rec.n_explained == border.sum()
        assert _rel(rec.map, ref[0]) <= 1e-5, key


@pytest.mark.parametrize("layer", ["encoder2", "bottleneck", "decoder2"])
def test_exact_gradcam_relu_and_guided_gradcam_at_coarse_layers(trained, layer):
    _, safe, x, border = trained
    cfg = _cfg(
        methods=("guided_gradcam",),
        layer_methods=("gradcam",),
        layers=(layer,),
        gradcam_relu=True,
        guided_gradcam_layer=layer,
    )
    recs = _records(Explainer(safe, cfg), x, border)
    pix, module = PixelLogits(safe), get_layer(safe, layer)
    cam = _per_pixel_mean(LayerGradCam(pix, module).attribute, x, border, relu_attributions=True)
    rec = recs[f"layer/gradcam/{layer}"]
    assert rec.mode == "exact" and rec.variant == "relu per pixel"
    assert _rel(rec.native, cam[0, 0]) <= 1e-5
    ggc = _per_pixel_mean(GuidedGradCam(pix, module).attribute, x, border)
    assert _rel(recs["model/guided_gradcam"].map, ggc[0]) <= 1e-5


def test_per_pixel_relu_is_not_one_pass(trained, records):
    """Why the exact engine exists: Guided Backprop of f differs from the per-pixel mean."""
    _, safe, x, border = trained
    _, recs = records
    one_pass = GuidedBackprop(border_mean_logit(safe, border)).attribute(x.clone())
    assert _rel(one_pass[0], recs["model/guided_backprop"].map) > 1e-3


def test_sampled_mode_is_seeded_and_explains_its_sample(trained):
    _, safe, x, border = trained
    cfg = _cfg(
        methods=("saliency", "guided_backprop"),
        layer_methods=(),
        layers=(),
        nonlinear_mode="sampled",
        sample_k=7,
        seed=3,
    )
    ex = Explainer(safe, cfg)
    a = {r.key: r for r in ex.explain(x, border, key=5)}
    b = {r.key: r for r in ex.explain(x, border, key=5)}
    c = {r.key: r for r in ex.explain(x, border, key=6)}
    gbp = a["model/guided_backprop"]
    assert gbp.mode == "sampled(7)" and gbp.n_explained == 7 and gbp.n_border == border.sum()
    assert a["model/saliency"].mode == "one-pass"  # linear methods never sample
    assert gbp.pixels.sum() == 7 and not (gbp.pixels & ~border).any()
    np.testing.assert_array_equal(gbp.map, b["model/guided_backprop"].map)
    assert not np.array_equal(gbp.pixels, c["model/guided_backprop"].pixels)
    # re-scoring a sampled map: the exact map over its sample is the same map
    again = ex.map("guided_backprop", x, gbp.pixels)
    assert _rel(again[0].numpy(), gbp.map) <= 1e-6
    # K >= |B| is exact
    big = Explainer(safe, dataclasses.replace(cfg, sample_k=10_000)).explain(x, border)
    assert big[1].mode == "exact"


def test_map_helper_matches_explain_on_new_inputs(trained, records):
    _, _, x, border = trained
    ex, recs = records
    for method, layer in (("deeplift", None), ("guided_gradcam", None), ("gradcam", "decoder3")):
        m = ex.map(method, x, border, layer=layer)
        key = f"model/{method}" if layer is None else f"layer/{method}/{layer}"
        want = recs[key].map
        assert tuple(m.shape[-2:]) == (S, S)
        assert _rel(m[0] if layer is None else m[0, 0], want) <= 1e-5, key
    xb = torch.cat([x, (x + 0.02 * torch.randn_like(x)).clamp(0, 1)])
    batch = ex.map("guided_backprop", xb, border)
    assert batch.shape == (2, 3, S, S)
    assert _rel(batch[0], recs["model/guided_backprop"].map) <= 1e-5
    native = ex.map("deeplift", xb, border, layer="bottleneck", native=True)
    assert native.shape == (2, 1, 1, 1)


def test_baselines():
    x = torch.rand(1, 3, 32, 32)
    assert make_baseline(x, "zeros").abs().sum() == 0
    flat = torch.full((1, 3, 32, 32), 0.25)
    torch.testing.assert_close(make_baseline(flat, "blur"), flat)
    assert make_baseline(x, "blur").std() < x.std()
    m = make_baseline(x, "mean", mean_rgb=[0.1, 0.2, 0.3])
    assert m[0, :, 5, 7].tolist() == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="mean_rgb"):
        make_baseline(x, "mean")


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="saliency, input_x_gradient"):
        AttributeConfig(methods=("saliency", "lime"))
    with pytest.raises(UnknownNameError, match="gradcam, deeplift"):
        AttributeConfig(layer_methods=("gradcam++",))
    with pytest.raises(UnknownNameError, match=r"encoder1.*decoder5"):
        AttributeConfig(layers=("decoder6",))
    with pytest.raises(UnknownNameError, match="bottleneck"):
        AttributeConfig(guided_gradcam_layer="head")
    with pytest.raises(ValueError, match="zeros, blur, mean"):
        AttributeConfig(deeplift_baseline="noise")
    with pytest.raises(ParamsError, match="valid keys"):
        attribute_config_from_params({"methodz": ["saliency"]})


def test_params_yaml_sections_build():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name in params["datasets"]:
        cfg = attribute_config_from_params(params[name]["attribute"])
        assert cfg.methods and cfg.nonlinear_mode in ("exact", "sampled")


def test_empty_border_is_refused_clearly(trained):
    _, safe, x, _ = trained
    with pytest.raises(ValueError, match="border is empty"):
        Explainer(safe, _cfg(layers=("decoder5",))).explain(x, np.zeros((S, S), bool))


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stage_carries_images_without_border(tmp_path, trained):
    """borders -> attribute on 3 images: one with a border, an empty and a full prediction."""
    model = trained[0]
    imgs, masks = _blobs(3, S, seed=1)
    pred_masks = masks[:, 0].numpy().astype(np.uint8)
    pred_masks[1] = 0
    pred_masks[2] = 1
    prep, mdir, pred = tmp_path / "prepared", tmp_path / "model", tmp_path / "pred"
    for d in (prep, mdir, pred):
        d.mkdir()
    np.save(prep / "test_images.npy", (imgs.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8))
    np.save(prep / "test_masks.npy", masks[:, 0].numpy().astype(np.uint8))
    (prep / "meta.json").write_text(json.dumps({"mean_rgb": [0.4, 0.35, 0.3]}))
    mcfg = ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 8, 8))
    save_model(mdir / "model.pt", model, mcfg)
    np.save(pred / "masks.npy", pred_masks)
    ids = ["img-a", "img-b", "img-c"]
    pd.DataFrame({"id": ids, "index": np.arange(3)}).to_parquet(pred / "per_image.parquet")
    params = tmp_path / "params.yaml"
    section = {
        "methods": ["saliency", "deeplift", "guided_backprop"],
        "layer_methods": ["gradcam"],
        "layers": ["bottleneck", "decoder5"],
        "deeplift_baseline": "mean",
        "ig_steps": 4,
        "nonlinear_mode": "sampled",
        "sample_k": 5,
        "chunk_size": 8,
        "device": "cpu",
    }
    params.write_text(yaml.safe_dump({"t": {"attribute": section}}))
    runner = CliRunner()
    borders = tmp_path / "borders"
    res = runner.invoke(
        _load_stage("borders").main,
        [
            "--dataset",
            "t",
            "--predictions",
            str(pred),
            "--out",
            str(borders),
            "--metrics",
            str(tmp_path / "b.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    out, table_path = tmp_path / "attr", tmp_path / "attributions.parquet"
    args = ["--dataset", "t", "--prepared", prep, "--model", mdir, "--predictions", pred]
    args += ["--borders", borders, "--out", out, "--table", table_path, "--params", params]
    res = runner.invoke(_load_stage("attribute").main, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.npz" for i in ids]
    with np.load(out / "img-a.npz") as z:
        keys = set(z.files)
        assert z["model/saliency"].shape == (3, S, S) and z["model/saliency"].dtype == np.float32
        assert z["layer/gradcam/decoder5"].shape == (S, S)
        assert z["native/gradcam/bottleneck"].shape == (1, 1)
        assert str(z["mode/model/guided_backprop"]) == "sampled(5)"
        assert str(z["mode/model/deeplift"]) == "one-pass"
        assert z["sample"].sum() == 5 and (z["sample"] <= z["border"]).all()
        assert str(z["status"]) == "ok"
    assert "layer/gradcam/bottleneck" in keys
    with np.load(out / "img-b.npz") as z:
        assert set(z.files) == {"border", "status"} and str(z["status"]) == "empty_prediction"
    t = pd.read_parquet(table_path)
    assert len(t) == 3 * (3 + 2)
    assert t.groupby("id")["status"].first().to_dict() == {
        "img-a": "ok",
        "img-b": "empty_prediction",
        "img-c": "full_prediction",
    }
    ok = t[t.status == "ok"]
    assert ok["seconds"].notna().all() and ok["sum"].notna().all()
    assert np.allclose(ok["pos_mass"] + ok["neg_mass"], ok["sum"])
    assert set(ok["mode"]) == {"one-pass", "sampled(5)"}
    assert t[t.status != "ok"]["sum"].isna().all()
    assert set(t[t.level == "layer"]["layer"]) == {"bottleneck", "decoder5"}
