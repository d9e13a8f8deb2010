"""Each method's rule: one-pass maps equal the mean of Captum's per-pixel maps; every registered
method declares what the engine needs; a new method needs no change to the engine (the shared
passes: ``test_passes.py``)."""

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
    float32_bound,
    per_pixel_mean,
    rel,
)

from seginterp.explain import engine
from seginterp.explain.exact import ExactRule
from seginterp.explain.layers import LAYERS, UNET_LAYERS, get_layer
from seginterp.explain.methods.base import Method
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import PixelLogits, border_mean_logit

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
    assert rel(rec.map, ref[0]) <= float32_bound(safe)


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
    tol = float32_bound(safe)
    assert rel(one_pass_full, dl_full) <= tol
    dl = dl_full.sum(1, keepdim=True)
    for name, ref, scale in (("gradcam", gc, gc.norm()), ("deeplift", dl, dl_full.norm())):
        rec = recs[(name, layer)]
        assert rec.mode == "one-pass"
        assert rec.native.shape == tuple(ref.shape[-2:]) and rec.map.shape == (S, S)
        err = (torch.as_tensor(rec.native) - ref[0, 0]).norm()
        assert err <= tol * scale, (name, float(err), float(scale))
        up = F.interpolate(ref, size=(S, S), mode="bilinear", align_corners=False)
        err_up = (torch.as_tensor(rec.map) - up[0, 0]).norm()
        ratio = (up.numel() / ref.numel()) ** 0.5  # norms grow with the pixel count
        assert err_up <= tol * max(float(up.norm()), float(scale) * ratio), name


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
    assert rel(rec.map, ref[0]) <= float32_bound(safe)
    assert CHUNK < len(idx)  # several chunks were summed
