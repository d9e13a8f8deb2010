"""The explainer: record order and fields, seeded sampling, one pass per layer method, the batch
``map`` helper and ``maps`` (many maps sharing their passes), what each map's sum is claimed to
equal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from explain.captum_ref import CUTS, S, by_key, cfg, float32_bound, rel

from seginterp.explain.engine import Explainer
from seginterp.explain.layers import UNET_LAYERS
from seginterp.explain.methods import layer_gradcam
from seginterp.explain.methods.base import Method
from seginterp.explain.target import BorderMeanLogit


def test_records_follow_the_configured_order(records):
    ex, recs = records
    want = [(m, None) for m in ex.cfg.methods]
    want += [(m, layer) for m in ex.cfg.layer_methods for layer in ex.cfg.layers]
    assert list(recs) == want
    assert [(m.name, layer) for m, layer in ex.requests] == want


def test_sampled_mode_is_seeded_and_explains_its_sample(trained):
    _, safe, x, border = trained
    c = cfg(
        methods=("saliency", "guided_backprop"),
        layer_methods=(),
        layers=(),
        nonlinear_mode="sampled",
        sample_k=7,
        seed=3,
    )
    ex = Explainer(safe, c)
    a = by_key(ex.explain(x, border, key=5))
    b = by_key(ex.explain(x, border, key=5))
    other = by_key(ex.explain(x, border, key=6))
    gbp = a[("guided_backprop", None)]
    assert gbp.mode == "sampled(7)" and gbp.n_explained == 7 and gbp.n_border == border.sum()
    assert a[("saliency", None)].mode == "one-pass"  # linear methods never sample
    assert gbp.pixels.sum() == 7 and not (gbp.pixels & ~border).any()
    np.testing.assert_array_equal(gbp.map, b[("guided_backprop", None)].map)
    assert not np.array_equal(gbp.pixels, other[("guided_backprop", None)].pixels)
    # re-scoring a sampled map: the exact map over its sample is the same map
    again = ex.map("guided_backprop", x, gbp.pixels)
    assert rel(again[0].numpy(), gbp.map) <= 1e-6
    # K >= |B| is exact
    big = Explainer(safe, dataclasses.replace(c, sample_k=10_000)).explain(x, border)
    assert big[1].mode == "exact"


def _forward_batches(ex: Explainer, x: torch.Tensor, border: np.ndarray) -> list[int]:
    """The batch size of each forward of the model in ``ex.explain`` (after a warm-up call)."""
    ex.explain(x, border)  # finds the layer cuts once
    sizes: list[int] = []
    handle = ex.model.register_forward_hook(lambda _m, inp, _o: sizes.append(len(inp[0])))
    try:
        ex.explain(x, border)
    finally:
        handle.remove()
    return sizes


def test_the_linear_maps_come_from_two_shared_passes(trained):
    """Saliency, input×gradient and Grad-CAM at every layer from one forward and one backward;
    DeepLIFT at model level and at every layer from one DeepLIFT pass on (x, x₀). Their maps are
    marked shared and carry their pass's seconds; Integrated Gradients runs alone."""
    _, safe, x, border = trained
    layers = tuple(UNET_LAYERS)
    model_level = ("saliency", "input_x_gradient", "deeplift", "integrated_gradients")
    c = cfg(methods=model_level, layer_methods=("gradcam", "deeplift"), layers=layers)
    recs = by_key(Explainer(safe, c).explain(x, border))
    passes = {
        "gradient": [("saliency", None), ("input_x_gradient", None)]
        + [("gradcam", n) for n in layers],
        "deeplift": [("deeplift", None)] + [("deeplift", n) for n in layers],
    }
    for name, keys in passes.items():
        group = [recs[k] for k in keys]
        assert all(r.shared and r.mode == "one-pass" for r in group), name
        assert len({r.seconds for r in group}) == 1, name
    assert recs[("saliency", None)].seconds != recs[("deeplift", None)].seconds
    assert not recs[("integrated_gradients", None)].shared
    # the gradient pass, DeepLIFT on (x, x₀), then f(x) and f(x₀) for Δf
    c = cfg(methods=model_level[:3], layer_methods=("gradcam", "deeplift"), layers=layers)
    assert _forward_batches(Explainer(safe, c), x, border) == [1, 2, 2]


def test_a_layer_method_without_a_shared_rule_runs_once_per_layer(trained, extra_method):
    """A layer method that does not declare a ``shared`` rule falls back to ``one_pass`` at
    each layer: the same maps as the shared pass, not shared, one forward per layer."""
    _, safe, x, border = trained
    plain = Method(
        name="gradcam_per_layer",
        level="layer",
        description="Grad-CAM without ReLU, one Captum call per layer",
        one_pass=layer_gradcam.METHOD.one_pass,
    )
    extra_method("LAYER_METHODS", plain)
    layers = ("encoder2", "decoder3", "decoder5")
    c = cfg(methods=(), layer_methods=("gradcam", plain.name), layers=layers)
    recs = by_key(Explainer(safe, c).explain(x, border))
    for layer in layers:
        one, shared = recs[(plain.name, layer)], recs[("gradcam", layer)]
        assert not one.shared and shared.shared
        np.testing.assert_array_equal(one.native, shared.native)
    c = cfg(methods=(), layer_methods=(plain.name,), layers=layers)
    assert _forward_batches(Explainer(safe, c), x, border) == [1, 1, 1]


def test_map_helper_matches_explain_on_new_inputs(trained, records):
    _, _, x, border = trained
    ex, recs = records
    for method, layer in (("deeplift", None), ("guided_gradcam", None), ("gradcam", "decoder3")):
        m = ex.map(method, x, border, layer=layer)
        assert tuple(m.shape[-2:]) == (S, S)
        got = m[0] if layer is None else m[0, 0]
        assert rel(got, recs[(method, layer)].map) <= float32_bound(ex.model)
    xb = torch.cat([x, (x + 0.02 * torch.randn_like(x)).clamp(0, 1)])
    batch = ex.map("guided_backprop", xb, border)
    assert batch.shape == (2, 3, S, S)
    assert rel(batch[0], recs[("guided_backprop", None)].map) <= float32_bound(ex.model)
    native = ex.map("deeplift", xb, border, layer="bottleneck", native=True)
    assert native.shape == (2, 1, 1, 1)


def test_maps_equal_the_map_helper_bitwise_sharing_their_passes(trained, records):
    """Every kind of map (one-pass, a layer method at many layers, nonlinear) over two pixel
    sets: each is ``map``'s, bit for bit, from one run of each shared pass per pixel set (the
    exact maps of a pixel set together, one input at a time)."""
    _, _, x, border = trained
    ex, _ = records
    half = border.copy()
    half[: S // 2] = False
    layers = ("encoder2", "decoder3", "decoder5")
    kinds = [("saliency", None), ("guided_backprop", None), ("guided_gradcam", None)]
    kinds += [(m, layer) for m in ("gradcam", "deeplift") for layer in layers]
    wanted = [(m, layer, p) for p in (border, half) for m, layer in kinds]
    xb = torch.cat([x, (x + 0.02 * torch.randn_like(x)).clamp(0, 1)])
    sizes: list[int] = []
    handle = ex.model.register_forward_hook(lambda _m, inp, _o: sizes.append(len(inp[0])))
    try:
        got = ex.maps(xb, wanted)
    finally:
        handle.remove()
    assert len(got) == len(wanted)
    for (method, layer, pixels), m in zip(wanted, got, strict=True):
        want = ex.map(method, xb, pixels, layer=layer)
        assert m.shape == want.shape and torch.equal(m, want), (method, layer)
    # per pixel set: the gradient pass (saliency, Grad-CAM at 3 layers), DeepLIFT on (x, x₀),
    # then the exact maps of each input (plain and guided forwards)
    assert sizes == 2 * [2, 4, 1, 1, 1, 1]


def test_empty_border_is_refused_clearly(trained):
    _, safe, x, _ = trained
    with pytest.raises(ValueError, match="border is empty"):
        Explainer(safe, cfg(layers=("decoder5",))).explain(x, np.zeros((S, S), bool))


def test_mean_baseline_needs_the_dataset_mean(trained):
    _, safe, _, _ = trained
    with pytest.raises(ValueError, match="mean_rgb"):
        Explainer(safe, cfg(deeplift_baseline="mean"))


def test_records_say_what_their_sum_equals(trained, records):
    """Δf on the maps that claim completeness; ``exact`` only at model level and at cut layers
    (residual ≤ 1e-3·|Δf|), ``partial`` where skips bypass the layer (residual > 50 % here).
    Fails on a code that claims completeness at every layer."""
    _, _, x, border = trained
    ex, recs = records
    f = BorderMeanLogit(ex.model, border)
    with torch.no_grad():
        delta = float(f(x) - f(ex.baseline(x)))
    want = {("deeplift", None): "exact", ("integrated_gradients", None): "approximate"}
    want |= {("deeplift", n): "exact" if n in CUTS else "partial" for n in ex.cfg.layers}
    for key, rec in recs.items():
        assert rec.completeness == want.get(key), key
        if rec.completeness is None:
            assert rec.delta_f is None, key
            continue
        assert rec.delta_f == pytest.approx(delta, rel=1e-4)
        total = float((rec.map if rec.native is None else rec.native).astype(np.float64).sum())
        residual = abs(total - delta) / abs(delta)
        ok = {"exact": residual <= 1e-3, "partial": residual > 0.5, "approximate": residual < 0.3}
        assert ok[rec.completeness], (key, residual)  # approximate: IG with 8 steps, 15 % here
    assert [n for n in ex.cfg.layers if ex.is_cut(n)] == CUTS


@pytest.mark.parametrize(("arch", "module"), [("fpn", "GroupNorm"), ("manet", "Softmax")])
def test_deeplift_is_dropped_with_its_reason_where_it_cannot_be_exact(arch, module):
    """The other maps are made; DeepLIFT (model and layer level) is not, and ``refused`` says
    why, naming the module. Where DeepLIFT is exact nothing is dropped."""
    from explain.captum_ref import random_smp

    from seginterp.explain.captum_safe import captum_safe
    from seginterp.explain.engine import runnable_methods

    c = dataclasses.replace(cfg(), layers="all", guided_gradcam_layer="last", ig_steps=2)
    ex = Explainer(random_smp(arch, "resnet18"), c, device="cpu")
    assert ex.cfg.methods == tuple(m for m in c.methods if m != "deeplift")
    assert ex.cfg.layer_methods == tuple(m for m in c.layer_methods if m != "deeplift")
    (reason,) = ex.refused.values()
    assert list(ex.refused) == ["deeplift"] and module in reason, ex.refused
    assert all(not method.deeplift for method, _ in ex.requests)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    border = np.zeros((64, 64), bool)
    border[20:40, 30] = True
    records = ex.explain(x, border)
    assert [(r.method, r.layer) for r in records] == [(m.name, n) for m, n in ex.requests]
    unet = captum_safe(random_smp("unet", "resnet18"))
    assert runnable_methods(dataclasses.replace(c, layers=UNET_LAYERS), unet) == (
        dataclasses.replace(c, layers=UNET_LAYERS),
        {},
    )
