"""The shared passes: every map read from them equals the Captum call that makes it alone, at
model level and at every layer, for every encoder family; hooks never outlive a pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import DeepLift, InputXGradient, LayerDeepLift, LayerGradCam, Saliency
from explain.captum_ref import S, cfg, float32_bound, random_unet, rel

from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.layers import UNET_LAYERS, get_layer
from seginterp.explain.passes import DEEPLIFT, GRADIENT, deeplift_pass, gradient_pass
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import border_mean_logit, make_baseline


def _captum_alone(f, x, x0, modules):
    """(method, layer or None) -> Captum's own call for that map alone."""
    out = {
        ("saliency", None): Saliency(f).attribute(x.clone(), abs=False),
        ("input_x_gradient", None): InputXGradient(f).attribute(x.clone()),
        ("deeplift", None): DeepLift(f).attribute(x.clone(), baselines=x0),
    }
    for n, m in modules.items():
        out[("gradcam", n)] = LayerGradCam(f, m).attribute(x, relu_attributions=False)
        out[("deeplift", n)] = LayerDeepLift(f, m).attribute(x, x0).sum(1, keepdim=True)
    return out


def _method(name, layer):
    return (METHODS if layer is None else LAYER_METHODS).get(name)


@pytest.mark.parametrize(
    "encoder",
    ["resnet18", pytest.param("vgg11_bn", marks=pytest.mark.slow), "densenet121"],
)
@pytest.mark.parametrize("batch", [1, 2])
def test_maps_read_from_shared_passes_equal_captum_alone(encoder, batch):
    """One gradient pass and one DeepLIFT pass over the ten layers give every map Captum gives
    alone (bitwise on CPU in practice; checked to the float32 bound of tests/explain/captum_ref)."""
    safe = captum_safe(random_unet(encoder, decoder=(16, 8, 8, 4, 4)))
    x = torch.rand(batch, 3, S, S, generator=torch.Generator().manual_seed(0))
    border = np.zeros((S, S), bool)
    border[8:24, 8] = border[8, 8:24] = True
    f, x0 = border_mean_logit(safe, border), make_baseline(x, "blur")
    modules = {n: get_layer(safe, n) for n in UNET_LAYERS}
    results = {p.name: p.run(f, x, x0, modules) for p in (GRADIENT, DEEPLIFT)}
    for (name, layer), want in _captum_alone(f, x, x0, modules).items():
        method = _method(name, layer)
        got = method.read_shared(results[method.shared.source.name], layer)
        assert got.shape == want.shape, (name, layer)
        assert rel(got, want) <= float32_bound(safe), (name, layer)


def test_every_linear_one_pass_method_but_integrated_gradients_reads_a_shared_pass():
    c = cfg(gradcam_relu=False)
    for reg in (METHODS, LAYER_METHODS):
        for name in reg.names():
            m = reg.get(name)
            if m.is_linear(c):
                assert (m.shared is None) == (name == "integrated_gradients"), name


def test_a_pass_without_layers_reads_the_model_level_maps(trained):
    _, safe, x, border = trained
    f = border_mean_logit(safe, border)
    x0 = make_baseline(x, "blur")
    r = gradient_pass(f, x, x0, {})
    assert r.acts == {} and r.grads == {}
    assert torch.equal(
        METHODS.get("saliency").read_shared(r, None), Saliency(f).attribute(x, abs=False)
    )
    d = deeplift_pass(f, x, x0, {})
    dl = DeepLift(f).attribute(x.clone(), baselines=x0)
    assert rel(METHODS.get("deeplift").read_shared(d, None), dl) <= 1e-6
    with pytest.raises(RuntimeError, match="did not read layer 'decoder1'"):
        LAYER_METHODS.get("gradcam").read_shared(r, "decoder1")


def _hooks(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("source", [GRADIENT, DEEPLIFT], ids=lambda p: p.name)
def test_a_pass_removes_its_hooks_even_on_error(trained, source):
    _, safe, x, border = trained
    f = border_mean_logit(safe, border)
    modules = {n: get_layer(safe, n) for n in ("encoder1", "decoder3")}

    def boom(*_):
        raise RuntimeError("boom")

    handle = get_layer(safe, "decoder4").register_forward_hook(boom)
    try:
        before = _hooks(f)
        with pytest.raises(RuntimeError, match="boom"):
            source.run(f, x, torch.zeros_like(x), modules)
        assert _hooks(f) == before
    finally:
        handle.remove()
    # and a normal call leaves none behind either
    source.run(f, x, torch.zeros_like(x), modules)
    assert _hooks(f) == before - 1
