"""DeepLIFT checks: completeness on the supported encoders, refusals naming the culprit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, LayerDeepLift
from explain.captum_ref import CUTS, DEC, random_unet
from torch import nn

from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.completeness import cut_layers
from seginterp.explain.deeplift_check import UnsupportedEncoderError, deeplift_blockers
from seginterp.explain.layers import get_layer
from seginterp.explain.target import border_mean_logit, make_baseline
from seginterp.model.net import ModelConfig, build_model

SLOW = pytest.mark.slow
DEEPLIFT_ENCODERS = [
    "resnet18",
    "resnet34",
    pytest.param("resnet50", marks=SLOW),
    pytest.param("vgg11_bn", marks=SLOW),
    pytest.param("densenet121", marks=SLOW),
]


def test_original_resnet_is_unsafe_for_deeplift():
    problems = " | ".join(deeplift_blockers(random_unet("resnet18")))
    assert "encoder.layer1.0.relu is called 2 times" in problems
    assert "overlapping windows" in problems and "feeds MaxPool2d" in problems


@pytest.mark.parametrize("encoder", DEEPLIFT_ENCODERS)
def test_deeplift_completeness(encoder):
    """|Σφ − (f(x) − f(x₀))| ≤ 1e-3·|f(x) − f(x₀)| on the Captum-safe model, every baseline;
    layer DeepLIFT too at the layers every path goes through (the cut layers; the others:
    tests/explain/test_completeness.py)."""
    safe = captum_safe(random_unet(encoder), deeplift=True)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 64, 64, generator=g)
    border = torch.zeros(64, 64, dtype=torch.bool)
    border[20:44, 20] = border[20, 20:44] = border[43, 20:44] = True
    f = border_mean_logit(safe, border)
    cuts = cut_layers(safe)
    assert cuts == CUTS
    for kind in ("zeros", "blur", "mean"):
        x0 = make_baseline(x, kind, mean_rgb=[0.5, 0.4, 0.3])
        with torch.no_grad():
            delta = float(f(x) - f(x0))
        assert abs(delta) > 1e-4
        total = float(DeepLift(f).attribute(x, baselines=x0).sum())
        assert abs(total - delta) <= 1e-3 * abs(delta), (kind, total, delta)
        for name in cuts:
            la = LayerDeepLift(f, get_layer(safe, name)).attribute(x, baselines=x0)
            assert abs(float(la.sum()) - delta) <= 1e-3 * abs(delta), (kind, name)


@pytest.mark.parametrize(
    ("encoder", "activation"), [("mobilenet_v2", "ReLU6"), ("efficientnet-b0", "SiLU")]
)
def test_deeplift_unsafe_encoder_is_refused_naming_the_activation(encoder, activation):
    m = build_model(ModelConfig(encoder=encoder, decoder_channels=DEC)).eval()
    captum_safe(m)  # fine without DeepLIFT
    with pytest.raises(UnsupportedEncoderError, match=f"activation {activation} is not in Captum"):
        captum_safe(m, deeplift=True)


def test_functional_nonlinearity_is_reported():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.gelu(self.conv(x))

    assert deeplift_blockers(Net()) == ["functional gelu called inside Net (1x)"]
