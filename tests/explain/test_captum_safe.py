"""Captum-safe models: same function and gradients, max-pooling DeepLIFT handles exactly."""

from __future__ import annotations

import pytest
import torch
from captum.attr import DeepLift, GuidedBackprop, Saliency
from explain.captum_ref import random_unet, rel
from torch import nn

from seginterp.explain.captum_safe import DeepLiftMaxPool2d, captum_safe
from seginterp.explain.deeplift_check import deeplift_blockers
from seginterp.explain.target import PixelLogits


def test_captum_safe_keeps_the_function_and_its_gradients():
    model = random_unet("resnet18")
    safe = captum_safe(model)
    assert type(model.encoder.layer1[0]).__name__ == "BasicBlock"  # original untouched
    assert hasattr(model.encoder.layer1[0], "relu")
    assert not deeplift_blockers(safe)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(safe(x), model(x), rtol=0, atol=1e-5)
    # gradient maps are unchanged: Saliency and Guided Backprop of one logit
    x1 = x[:1]
    for cls in (Saliency, GuidedBackprop):
        a = cls(PixelLogits(model)).attribute(x1, target=64 * 20 + 30)
        b = cls(PixelLogits(safe)).attribute(x1, target=64 * 20 + 30)
        assert rel(b, a) < 1e-5, cls.__name__


@pytest.mark.parametrize("cfg", [(3, 2, 1), (2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_deeplift_maxpool_equals_maxpool(cfg):
    k, s, p = cfg
    pool = nn.MaxPool2d(k, s, p)
    x = torch.randn(2, 3, 11, 10) - 3.0  # negative values: padding must never win
    torch.testing.assert_close(DeepLiftMaxPool2d(pool)(x), pool(x), rtol=0, atol=1e-6)


def test_deeplift_maxpool_restores_completeness_where_captum_maxpool_breaks():
    torch.manual_seed(0)

    class Sum(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x).flatten(1).sum(1)

    body = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    body = nn.Sequential(*body, nn.Conv2d(3, 2, 1)).double()
    x, x0 = torch.randn(1, 2, 8, 8).double(), torch.randn(1, 2, 8, 8).double()
    for f, ok in ((Sum(body), False), (Sum(captum_safe(body)), True)):
        delta = (f(x) - f(x0)).item()
        err = abs(DeepLift(f).attribute(x, baselines=x0).sum().item() - delta) / abs(delta)
        assert (err < 1e-9) == ok, err
