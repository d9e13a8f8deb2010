"""Each method's rule: one-pass maps equal the mean of Captum's per-pixel maps; a layer method's
one pass over all layers equals Captum at each layer; every registered method declares what the
engine needs; a new method needs no change to the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    DeepLift,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerDeepLift,
    LayerGradCam,
    Saliency,
)
from explain.captum_ref import (
    CHUNK,
    IG_STEPS,
    S,
    by_key,
    cfg,
    per_pixel_mean,
    random_unet,
    rel,
)

from seginterp.explain import engine
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.exact import ExactRule
from seginterp.explain.layers import LAYERS, UNET_LAYERS, get_layer
from seginterp.explain.methods.base import Method
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import PixelLogits, border_mean_logit, make_baseline

SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "method", ["saliency", "input_x_gradient", "integrated_gradients", "deeplift"]
)
def test_one_pass_equals_mean_of_per_pixel_maps(trained, records, method):
    _, safe, x, border = trained
    ex, recs = records
    rec = recs[(method, None)]
    assert rec.mode == "one-pass" and rec.n_border == rec.n_explained == border.sum()
    pix = PixelLogits(safe)
    x0 = ex.baseline(x)
    ref = {
        "saliency": lambda: per_pixel_mean(Saliency(pix).attribute, x, border, abs=False),
        "input_x_gradient": lambda: per_pixel_mean(InputXGradient(pix).attribute, x, border),
        "integrated_gradients": lambda: per_pixel_mean(
            IntegratedGradients(pix).attribute, x, border, baselines=x0, n_steps=IG_STEPS
        ),
        "deeplift": lambda: per_pixel_mean(DeepLift(pix).attribute, x, border, baselines=x0),
    }[method]()
    assert rec.map.shape == (3, S, S) and rec.map.dtype == np.float32
    assert rel(rec.map, ref[0]) <= 1e-5


@pytest.mark.parametrize("layer", UNET_LAYERS)
def test_layer_one_pass_equals_mean_of_per_pixel_maps(trained, records, layer):
    _, safe, x, border = trained
    ex, recs = records
    pix, module = PixelLogits(safe), get_layer(safe, layer)
    x0 = ex.baseline(x)
    gc = per_pixel_mean(LayerGradCam(pix, module).attribute, x, border, relu_attributions=False)
    dl_full = per_pixel_mean(LayerDeepLift(pix, module).attribute, x, border, baselines=x0)
    # the linearity claim holds channel by channel (before the channel sum, which may cancel)
    one_pass_full = LayerDeepLift(border_mean_logit(safe, border), module).attribute(x, x0)
    assert rel(one_pass_full, dl_full) <= 1e-5
    dl = dl_full.sum(1, keepdim=True)
    for name, ref, scale in (("gradcam", gc, gc.norm()), ("deeplift", dl, dl_full.norm())):
        rec = recs[(name, layer)]
        assert rec.mode == "one-pass"
        assert rec.native.shape == tuple(ref.shape[-2:]) and rec.map.shape == (S, S)
        err = (torch.as_tensor(rec.native) - ref[0, 0]).norm()
        assert err <= 1e-5 * scale, (name, float(err), float(scale))
        up = F.interpolate(ref, size=(S, S), mode="bilinear", align_corners=False)
        err_up = (torch.as_tensor(rec.map) - up[0, 0]).norm()
        ratio = (up.numel() / ref.numel()) ** 0.5  # norms grow with the pixel count
        assert err_up <= 1e-5 * max(float(up.norm()), float(scale) * ratio), name


def _captum_at_each_layer(f, x, x0, modules):
    """Per layer: Captum's own call, one forward and one backward each."""
    return {
        "gradcam": {
            n: LayerGradCam(f, m).attribute(x, relu_attributions=False) for n, m in modules.items()
        },
        "deeplift": {
            n: LayerDeepLift(f, m).attribute(x, baselines=x0).sum(1, keepdim=True)
            for n, m in modules.items()
        },
    }


@pytest.mark.parametrize(
    "encoder",
    ["resnet18", pytest.param("vgg11_bn", marks=SLOW), "densenet121"],  # vgg: 3.5 s here
)
def test_one_pass_at_all_layers_equals_captum_at_each_layer(encoder):
    """Both linear layer methods: one shared pass over the ten layers gives, at every layer, the
    map of Captum's call at that layer alone (bitwise on CPU in practice; checked to 1e-5)."""
    safe = captum_safe(random_unet(encoder, decoder=(16, 8, 8, 4, 4)))
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    border = np.zeros((S, S), bool)
    border[8:24, 8] = border[8, 8:24] = True
    f, x0 = border_mean_logit(safe, border), make_baseline(x, "blur")
    modules = {n: get_layer(safe, n) for n in UNET_LAYERS}
    c = cfg()
    ref = _captum_at_each_layer(f, x, x0, modules)
    for name, want in ref.items():
        got = LAYER_METHODS.get(name).run_one_pass_layers(f, x, x0, c, modules)
        assert list(got) == list(modules)
        for layer, m in got.items():
            assert m.shape == want[layer].shape, (name, layer)
            assert rel(m, want[layer]) <= 1e-5, (name, layer)


def _hooks(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("name", ["gradcam", "deeplift"])
def test_one_pass_at_all_layers_removes_its_hooks_even_on_error(trained, name):
    _, safe, x, border = trained
    f = border_mean_logit(safe, border)
    modules = {n: get_layer(safe, n) for n in ("encoder1", "decoder3")}

    def boom(*_):
        raise RuntimeError("boom")

    handle = get_layer(safe, "decoder4").register_forward_hook(boom)
    try:
        before = _hooks(f)
        with pytest.raises(RuntimeError, match="boom"):
            LAYER_METHODS.get(name).run_one_pass_layers(f, x, torch.zeros_like(x), cfg(), modules)
        assert _hooks(f) == before
    finally:
        handle.remove()
    # and a normal call leaves none behind either
    LAYER_METHODS.get(name).run_one_pass_layers(f, x, torch.zeros_like(x), cfg(), modules)
    assert _hooks(f) == before - 1


@pytest.mark.parametrize("gradcam_relu", [False, True])
def test_every_method_declares_its_rules(gradcam_relu):
    c = cfg(gradcam_relu=gradcam_relu)
    for reg, level in ((METHODS, "model"), (LAYER_METHODS, "layer")):
        for name in reg.names():
            m = reg.get(name)
            assert isinstance(m, Method) and m.name == name and m.level == level
            assert m.description and isinstance(m.variant(c), str)
            if m.is_linear(c):
                assert m.one_pass is not None, name
            else:
                rule = m.exact_rule(c, "decoder3" if level == "layer" else None)
                assert isinstance(rule, ExactRule) and (rule.layers or rule.guided), name
                assert all(layer in LAYERS for layer in rule.layers)
    assert LAYER_METHODS.get("gradcam").is_linear(c) is (not gradcam_relu)


def test_a_method_without_a_rule_is_refused():
    with pytest.raises(ValueError, match="neither a one-pass nor an exact rule"):
        Method("x", "nothing")


def test_a_new_method_is_one_file_and_one_registry_line(trained, extra_method):
    """A toy nonlinear method, mean over q of |Guided Backprop(z_q)|, registered in a copy of
    the registry: the engine computes it exactly without knowing its name."""
    _, safe, x, border = trained
    toy = Method(
        name="abs_guided_backprop",
        description="|Guided Backprop| per pixel, averaged",
        variant=lambda c: "abs",
        exact=lambda c, layer: ExactRule(lambda chunk: chunk.guided.abs(), guided=True),
    )
    extra_method("METHODS", toy)
    c = cfg(methods=("guided_backprop", toy.name), layer_methods=(), layers=())
    recs = by_key(engine.Explainer(safe, c).explain(x, border))
    rec = recs[(toy.name, None)]
    assert rec.mode == "exact" and rec.variant == "abs" and rec.shared
    gbp = GuidedBackprop(PixelLogits(safe))
    idx = [int(i) for i in np.flatnonzero(border.ravel())]
    ref = sum(gbp.attribute(x.clone(), target=q).detach().abs() for q in idx) / len(idx)
    assert rel(rec.map, ref[0]) <= 1e-5
    assert CHUNK < len(idx)  # several chunks were summed
