"""The exact engine: per-pixel means of nonlinear maps equal the plain Captum loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop, GuidedGradCam, LayerGradCam
from explain.captum_ref import by_key, cfg, float32_bound, per_pixel_mean, random_smp, rel

from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.engine import Explainer
from seginterp.explain.exact import ExactRule, capture_outputs, exact_maps, guided_relus
from seginterp.explain.layers import get_layer, head_input, layer_table
from seginterp.explain.target import PixelLogits, border_mean_logit
from seginterp.model.architectures import ARCHITECTURES


def test_exact_guided_methods_equal_the_captum_loop(trained, records):
    _, safe, x, border = trained
    _, recs = records
    pix = PixelLogits(safe)
    gbp = per_pixel_mean(GuidedBackprop(pix).attribute, x, border)
    ggc = per_pixel_mean(GuidedGradCam(pix, get_layer(safe, "decoder5")).attribute, x, border)
    for method, ref in (("guided_backprop", gbp), ("guided_gradcam", ggc)):
        rec = recs[(method, None)]
        assert rec.mode == "exact" and rec.shared and rec.n_explained == border.sum()
        assert rel(rec.map, ref[0]) <= float32_bound(safe), method


@pytest.mark.parametrize("layer", ["encoder2", "bottleneck", "decoder2"])
def test_exact_gradcam_relu_and_guided_gradcam_at_coarse_layers(trained, layer):
    _, safe, x, border = trained
    c = cfg(
        methods=("guided_gradcam",),
        layer_methods=("gradcam",),
        layers=(layer,),
        gradcam_relu=True,
        guided_gradcam_layer=layer,
    )
    recs = by_key(Explainer(safe, c).explain(x, border))
    pix, module = PixelLogits(safe), get_layer(safe, layer)
    cam = per_pixel_mean(LayerGradCam(pix, module).attribute, x, border, relu_attributions=True)
    rec = recs[("gradcam", layer)]
    assert rec.mode == "exact" and rec.variant == "relu per pixel"
    assert rel(rec.native, cam[0, 0]) <= float32_bound(safe)
    ggc = per_pixel_mean(GuidedGradCam(pix, module).attribute, x, border)
    assert rel(recs[("guided_gradcam", None)].map, ggc[0]) <= float32_bound(safe)


def test_per_pixel_relu_is_not_one_pass(trained, records):
    """Why the exact engine exists: Guided Backprop of f differs from the per-pixel mean."""
    _, safe, x, border = trained
    _, recs = records
    one_pass = GuidedBackprop(border_mean_logit(safe, border)).attribute(x.clone())
    assert rel(one_pass[0], recs[("guided_backprop", None)].map) > 10 * float32_bound(safe)


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_are_removed_even_on_error(trained):
    _, safe, x, _ = trained
    before = _hooks(safe)
    with pytest.raises(RuntimeError, match="boom"), guided_relus(safe):
        assert _hooks(safe) > before
        raise RuntimeError("boom")
    with capture_outputs({"d": get_layer(safe, "decoder5")}) as store:
        safe(x)
    assert store["d"].shape[-1] == x.shape[-1] and _hooks(safe) == before


def test_exact_maps_checks_its_inputs(trained):
    _, safe, x, _ = trained
    rule = ExactRule(lambda chunk: chunk.grads["decoder5"], layers=("decoder5",))
    with pytest.raises(ValueError, match="no module given"):
        exact_maps(safe, x, torch.tensor([3]), [rule], {})
    with pytest.raises(ValueError, match="non-empty"):
        exact_maps(safe, x, torch.tensor([], dtype=torch.long), [rule], {})
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        exact_maps(safe, x.expand(2, -1, -1, -1), torch.tensor([3]), [rule], {})


ARCHS = tuple(ARCHITECTURES.names())
DILATED = ("deeplabv3plus", "deeplabv3")  # smp cannot dilate vgg / densenet encoders


@pytest.mark.parametrize(
    ("arch", "encoder"),
    [(a, "resnet18") for a in ARCHS]
    + [
        pytest.param(a, e, marks=pytest.mark.slow)
        for a in ARCHS
        if a not in DILATED
        for e in ("vgg11_bn", "densenet121")
    ],
)
def test_exact_guided_backprop_equals_the_captum_loop_on_each_architecture(arch, encoder):
    """Every smp decoder: seginterp's guided rule on the Captum-safe copy is Captum's per pixel
    (DeepLIFT's refusals of FPN and MAnet do not concern Guided Backprop)."""
    safe = captum_safe(random_smp(arch, encoder))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    border = np.zeros((64, 64), dtype=bool)
    border[20, 20:30] = border[40:46, 33] = True
    pixels = torch.as_tensor(np.flatnonzero(border.ravel()))
    rule = ExactRule(lambda chunk: chunk.guided, guided=True)
    ours = exact_maps(safe, x, pixels, [rule], {}, chunk_size=16)[0]
    ref = per_pixel_mean(GuidedBackprop(PixelLogits(safe)).attribute, x, border)
    assert rel(ours, ref) <= float32_bound(safe)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_nonlinear_method_equals_captum_per_pixel_on_each_architecture(arch):
    """Through the engine on a tiny model of every registered architecture: Guided Backprop,
    Guided Grad-CAM at the segmentation head's input (``last``) and the paper's per-pixel ReLU
    Grad-CAM at an encoder stage and the head's input, each the mean of Captum's per-pixel maps."""
    safe = captum_safe(random_smp(arch, "resnet18"))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    border = np.zeros((64, 64), dtype=bool)
    border[20, 20:28] = border[40:44, 33] = True
    last = head_input(safe)
    layers = ("encoder2", last)
    c = cfg(
        methods=("guided_backprop", "guided_gradcam"),
        layer_methods=("gradcam",),
        layers=layers,
        guided_gradcam_layer="last",
        gradcam_relu=True,
    )
    recs = by_key(Explainer(safe, c).explain(x, border))
    pix = PixelLogits(safe)
    refs = {
        ("guided_backprop", None): per_pixel_mean(GuidedBackprop(pix).attribute, x, border),
        ("guided_gradcam", None): per_pixel_mean(
            GuidedGradCam(pix, get_layer(safe, last)).attribute, x, border
        ),
    }
    for name in layers:
        cam = LayerGradCam(pix, get_layer(safe, name)).attribute
        refs[("gradcam", name)] = per_pixel_mean(cam, x, border, relu_attributions=True)
    assert last in layer_table(safe)
    for key, ref in refs.items():
        rec = recs[key]
        assert rec.mode == "exact", key
        got = torch.as_tensor(rec.map if key[1] is None else rec.native)
        want = ref[0] if key[1] is None else ref[0, 0]
        if not want.any():  # every pixel's ReLU Grad-CAM negative there (random weights)
            assert not got.any(), key
        else:
            assert rel(got, want) <= float32_bound(safe), key
    assert refs[("guided_backprop", None)].any()
