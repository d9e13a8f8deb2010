"""Where layer DeepLIFT is complete: the cut layers, the skips that bypass the others, and at
every layer ``Σ map(L) + Σ_{s ∈ bypass(L)} C_s = f(x) − f(x₀)``."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from captum.attr import LayerDeepLift
from explain.captum_ref import CUTS, random_smp, random_unet
from explain.skips import (
    bypassing_skips,
    cut_layers,
    detached,
    is_cut,
    modules_are_cut,
    skip_channels,
    skip_contributions,
)

from seginterp.explain import completeness
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.deeplift_check import UnsupportedEncoderError
from seginterp.explain.layers import UNET_LAYERS, get_layer, layer_table
from seginterp.explain.target import BorderMeanLogit, make_baseline

BYPASS = {  # smp Unet of depth 5: decoder{k} receives the skip of encoder stage 5 − k
    "encoder1": [],
    "encoder2": ["decoder4"],
    "encoder3": ["decoder3", "decoder4"],
    "encoder4": ["decoder2", "decoder3", "decoder4"],
    "bottleneck": ["decoder1", "decoder2", "decoder3", "decoder4"],
    "decoder1": ["decoder2", "decoder3", "decoder4"],
    "decoder2": ["decoder3", "decoder4"],
    "decoder3": ["decoder4"],
    "decoder4": [],
    "decoder5": [],
}


@pytest.mark.parametrize(
    "encoder", ["resnet18", pytest.param("vgg11_bn", marks=pytest.mark.slow), "densenet121"]
)
def test_cut_layers_and_bypassing_skips_of_each_family(encoder):
    """Computed structurally; {L} ∪ bypass(L) is a cut, and no skip of it can be left out."""
    model = captum_safe(random_unet(encoder))
    x = torch.zeros(1, 3, 32, 32)  # the probe: only the graph matters
    assert cut_layers(model, x) == CUTS
    assert list(skip_channels(model, x)) == ["decoder1", "decoder2", "decoder3", "decoder4"]
    assert {n: bypassing_skips(model, n, x) for n in layer_table(model)} == BYPASS
    for layer, skips in BYPASS.items():
        assert is_cut(model, layer, x, skips=skips), layer
        for s in skips:
            assert not is_cut(model, layer, x, skips=[t for t in skips if t != s]), (layer, s)


def test_detached_hooks_are_removed_even_on_error():
    model = captum_safe(random_unet("resnet18"))
    layer = get_layer(model, "decoder3")
    with pytest.raises(RuntimeError, match="boom"), detached([layer]):
        raise RuntimeError("boom")
    assert not layer._forward_hooks
    assert not is_cut(model, "decoder3") and not layer._forward_hooks
    with pytest.raises(ValueError, match="not decoder layers"):
        is_cut(model, "encoder2", skips=["encoder1"])


@pytest.fixture(scope="module")
def deeplift64(trained):
    """Per baseline: f, the float64 Captum-safe model, x, x₀, Δf and the skip contributions."""
    _, safe, x, border = trained
    model = copy.deepcopy(safe).double()
    f = BorderMeanLogit(model, border)
    x = x.double()
    out = {}
    for kind in ("zeros", "blur"):
        base = make_baseline(x, kind)
        with torch.no_grad():
            delta = float(f(x) - f(base))
        contrib = {k: float(v) for k, v in skip_contributions(f, model, x, base).items()}
        out[kind] = (f, model, x, base, delta, contrib)
    return out


@pytest.mark.parametrize("kind", ["zeros", "blur"])
@pytest.mark.parametrize("layer", UNET_LAYERS)
def test_layer_deeplift_sum_is_delta_f_minus_the_bypassing_skips(deeplift64, layer, kind):
    """Exactly what is claimed: completeness at a cut; elsewhere the sum misses the DeepLIFT
    contributions of the skips that bypass the layer, and those make up the difference."""
    f, model, x, base, delta, contrib = deeplift64[kind]
    total = float(LayerDeepLift(f, get_layer(model, layer)).attribute(x, baselines=base).sum())
    bypass = bypassing_skips(model, layer)
    assert abs(total + sum(contrib[s] for s in bypass) - delta) <= 1e-9 * abs(delta)
    if layer in CUTS:
        assert bypass == [] and abs(total - delta) <= 1e-9 * abs(delta)
    else:  # completeness fails there: the bypassing skips carry a large part of Δf
        assert bypass and abs(total - delta) > 0.5 * abs(delta), (total, delta)


@pytest.mark.parametrize("arch", ["unetplusplus", "linknet", "fpn", "deeplabv3plus"])
def test_the_skip_identity_refuses_other_architectures(arch):
    """Only smp Unet's skips are read; the structural cut test holds for any graph."""
    model = captum_safe(random_smp(arch, "resnet18"))
    x = torch.zeros(1, 3, 64, 64)
    for call in (
        lambda: bypassing_skips(model, "encoder2", x),
        lambda: skip_channels(model, x),
        lambda: is_cut(model, "encoder2", x, skips=["decoder4"]),
    ):
        with pytest.raises(UnsupportedEncoderError, match="defined for smp Unet only"):
            call()
    assert modules_are_cut(model, "decoder") and not modules_are_cut(model, "encoder.layer2", x)


@pytest.mark.parametrize(
    ("arch", "encoder"),
    [
        ("unet", "resnet18"),
        ("unetplusplus", "resnet18"),
        ("fpn", "resnet18"),
        ("deeplabv3plus", "resnet18"),
        ("unet", "densenet121"),
    ],
)
def test_one_forward_finds_the_cuts_the_detached_outputs_find(arch, encoder):
    """``cuts`` (one forward, a walk of the graph) agrees with detaching each layer's output and
    asking autograd, layer by layer and for pairs of layers."""
    model = captum_safe(random_smp(arch, encoder))
    x = torch.zeros(1, 3, 64, 64)
    table = layer_table(model)
    names = list(table)
    groups = [[n] for n in names] + [list(p) for p in itertools.pairwise(names)]
    want = [modules_are_cut(model, [table[n] for n in g], x) for g in groups]
    assert completeness.cuts(model, groups, x) == want
    assert any(want) and not all(want)
    assert not any(m._forward_hooks for m in model.modules())
