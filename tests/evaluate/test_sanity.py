import numpy as np
import pytest
import torch
from captum.attr import Saliency
from torch import nn

from seginterp.evaluate.randomized import randomize_weights
from seginterp.evaluate.sanity import rank_correlation

S = 32


def _tiny_unet() -> nn.Module:
    from seginterp.model.net import ModelConfig, build_model

    torch.manual_seed(0)
    m = build_model(ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))).eval()
    with torch.no_grad():  # stand-in for training: BN statistics away from their reset values
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
    return m


def _saliency(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    border = torch.zeros(S, S)
    border[8, 8:24] = border[23, 8:24] = border[8:24, 8] = border[8:24, 23] = 1.0
    w = border / border.sum()

    def f(inp: torch.Tensor) -> torch.Tensor:
        return (model(inp)[:, 0] * w).sum(dim=(1, 2))

    return Saliency(f).attribute(x.clone().requires_grad_(True), abs=False)[0].detach().numpy()


def test_randomize_weights_is_seeded_and_leaves_the_original_alone():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 1)).eval()
    with torch.no_grad():
        m[1].weight.fill_(2.0)  # "trained" BN affine and statistics
        m[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    r1, r2, r3 = randomize_weights(m, 0), randomize_weights(m, 0), randomize_weights(m, 1)
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, before[k])  # original untouched
    for k, v in r1.state_dict().items():
        torch.testing.assert_close(v, r2.state_dict()[k])  # seeded
    for k in ("0.weight", "3.weight"):
        assert not torch.equal(r1.state_dict()[k], before[k])
        assert not torch.equal(r1.state_dict()[k], r3.state_dict()[k])
    assert torch.equal(r1[1].weight, torch.ones(4)) and torch.equal(
        r1[1].running_mean, torch.zeros(4)
    )
    assert not r1.training and r1 is not m


def test_randomize_refuses_modules_it_cannot_reset():
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

    with pytest.raises(TypeError, match="reset_parameters"):
        randomize_weights(nn.Sequential(nn.Linear(2, 2), Odd()), 0)


def test_rank_correlation_identical_vs_randomized_model():
    m = _tiny_unet()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    a = _saliency(m, x)
    same = rank_correlation(a, _saliency(m, x))
    assert same["spearman"] == pytest.approx(1.0) and same["spearman_abs"] == pytest.approx(1.0)
    rnd = rank_correlation(a, _saliency(randomize_weights(m, 0), x))
    assert rnd["spearman"] < 0.9 and rnd["spearman_abs"] < 0.9
    assert rank_correlation(a, np.zeros_like(a))["spearman"] is None  # constant map
    with pytest.raises(ValueError, match="differ"):
        rank_correlation(a, a[:, :4])
