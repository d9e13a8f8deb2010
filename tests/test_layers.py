"""Named layers and Captum-safe models: table, equivalence, DeepLIFT completeness, refusals."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, GuidedBackprop, LayerDeepLift, Saliency
from torch import nn

from seginterp.attribution import PixelLogits, border_mean_logit, make_baseline
from seginterp.layers import (
    LAYERS,
    DeepLiftMaxPool2d,
    UnsupportedEncoderError,
    captum_safe,
    deeplift_blockers,
    get_layer,
    layer_table,
)
from seginterp.model import ModelConfig, build_model
from seginterp.registry import UnknownNameError

DEC = (16, 8, 8, 8, 8)
SLOW = pytest.mark.slow
DEEPLIFT_ENCODERS = [
    "resnet18",
    "resnet34",
    pytest.param("resnet50", marks=SLOW),
    pytest.param("vgg11_bn", marks=SLOW),
    pytest.param("densenet121", marks=SLOW),
]


@pytest.fixture(autouse=True)
def _quiet():
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _model(encoder: str, seed: int = 0, decoder=DEC) -> nn.Module:
    """Random U-Net with non-trivial BatchNorm statistics (eval mode)."""
    torch.manual_seed(seed)
    m = build_model(ModelConfig(encoder=encoder, decoder_channels=decoder))
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2, generator=g)
            mod.running_var.uniform_(0.5, 2.0, generator=g)
            mod.weight.data.uniform_(0.5, 1.5, generator=g)
            mod.bias.data.normal_(0, 0.2, generator=g)
    return m.eval()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_layer_names():
    assert LAYERS.names() == [
        *(f"encoder{k}" for k in range(1, 5)),
        "bottleneck",
        *(f"decoder{k}" for k in range(1, 6)),
    ]


@pytest.mark.parametrize(
    "encoder",
    [
        "resnet18",
        "mobilenet_v2",
        pytest.param("vgg11_bn", marks=SLOW),
        pytest.param("densenet121", marks=SLOW),
    ],
)
def test_layer_table_points_at_the_encoder_features_and_decoder_blocks(encoder):
    model = captum_safe(_model(encoder))
    table = layer_table(model)
    assert list(table) == LAYERS.names()
    x = torch.rand(1, 3, 64, 64)
    got: dict[str, torch.Tensor] = {}
    handles = [
        get_layer(model, n).register_forward_hook(
            lambda _m, _i, o, n=n: got.__setitem__(n, o.detach())
        )
        for n in table
    ]
    try:
        with torch.no_grad():
            feats = model.encoder(x)
            model(x)
    finally:
        for h in handles:
            h.remove()
    stages = [*(f"encoder{k}" for k in range(1, 5)), "bottleneck"]
    for k, name in enumerate(stages, start=1):  # stage k = the decoder's k-th skip feature
        torch.testing.assert_close(got[name], feats[k], rtol=0, atol=1e-6)
        assert got[name].shape[-1] == 64 // 2**k
    for k in range(1, 6):
        assert got[f"decoder{k}"].shape[-1] == 64 // 2 ** (5 - k)


def test_unknown_and_absent_layers_list_valid_names():
    model = _model("resnet18")
    with pytest.raises(UnknownNameError, match="decoder5"):
        get_layer(model, "decoder9")
    shallow = build_model(ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 8)))
    assert layer_table(shallow) == {
        "encoder1": "encoder.relu",
        "encoder2": "encoder.layer1",
        "bottleneck": "encoder.layer2",
        "decoder1": "decoder.blocks.0",
        "decoder2": "decoder.blocks.1",
        "decoder3": "decoder.blocks.2",
    }
    with pytest.raises(UnsupportedEncoderError, match="valid layers: encoder1, encoder2"):
        get_layer(shallow, "encoder4")


def test_encoder_without_layer_table_is_refused():
    m = build_model(ModelConfig(encoder="efficientnet-b0", decoder_channels=DEC))
    with pytest.raises(UnsupportedEncoderError, match=r"EfficientNetEncoder.*resnet18"):
        layer_table(m)


def test_captum_safe_keeps_the_function_and_its_gradients():
    model = _model("resnet18")
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
        assert _rel(b, a) < 1e-5, cls.__name__


def test_original_resnet_is_unsafe_for_deeplift():
    problems = " | ".join(deeplift_blockers(_model("resnet18")))
    assert "encoder.layer1.0.relu is called 2 times" in problems
    assert "overlapping windows" in problems and "feeds MaxPool2d" in problems


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


@pytest.mark.parametrize("encoder", DEEPLIFT_ENCODERS)
def test_deeplift_completeness(encoder):
    """|Σφ − (f(x) − f(x₀))| ≤ 1e-3·|f(x) − f(x₀)| on the Captum-safe model, every baseline;
    layer DeepLIFT too at layers every path goes through (encoder1, decoder5)."""
    safe = captum_safe(_model(encoder), deeplift=True)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 64, 64, generator=g)
    border = torch.zeros(64, 64, dtype=torch.bool)
    border[20:44, 20] = border[20, 20:44] = border[43, 20:44] = True
    f = border_mean_logit(safe, border)
    for kind in ("zeros", "blur", "mean"):
        x0 = make_baseline(x, kind, mean_rgb=[0.5, 0.4, 0.3])
        with torch.no_grad():
            delta = float(f(x) - f(x0))
        assert abs(delta) > 1e-4
        total = float(DeepLift(f).attribute(x, baselines=x0).sum())
        assert abs(total - delta) <= 1e-3 * abs(delta), (kind, total, delta)
        for name in ("encoder1", "decoder5"):
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
