"""DeepLIFT checks: completeness on the supported encoders, refusals naming the culprit."""

from __future__ import annotations

import re

import pytest
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, LayerDeepLift
from explain.captum_ref import CUTS, DEC, random_smp, random_unet
from explain.refused import REFUSED
from explain.skips import cut_layers, modules_are_cut
from torch import nn

from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.deeplift_check import UnsupportedEncoderError, deeplift_blockers
from seginterp.explain.layers import get_layer
from seginterp.explain.target import border_mean_logit, make_baseline
from seginterp.model.architectures import ARCHITECTURES
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


# --- every smp architecture: model-level completeness, or a refusal naming the module ----------

FAMILIES = ("vgg11_bn", "densenet121")  # besides resnet18
#: architectures on which DeepLIFT is exact with smp's defaults (others: in REFUSED)
COMPLETE = ("unet", "unetplusplus", "deeplabv3plus", "deeplabv3", "linknet", "pspnet", "segformer")
ARCH_ENCODERS = [
    pytest.param(a, e, marks=SLOW) if e != "resnet18" else (a, e)
    for a in COMPLETE
    for e in ("resnet18", "vgg11_bn", "densenet121")
    if not any(r.architecture == a and e in r.encoders and not r.settings for r in REFUSED)
]
#: per architecture: (a module path every input-output path crosses, one that a skip bypasses)
CUT_AND_BYPASSED = {
    "unet": ("decoder.blocks.4", "decoder.blocks.0"),
    "unetplusplus": ("decoder.blocks.x_0_3", "decoder.blocks.x_0_2"),
    "deeplabv3plus": ("decoder.block2", "decoder.aspp"),
    "linknet": ("decoder.blocks.3", "decoder.blocks.2"),
    "pspnet": ("decoder.psp", None),
    "deeplabv3": ("decoder.aspp", None),
    "segformer": ("decoder.fuse_stage", "decoder.mlp_stage.0"),
}


def test_every_registered_architecture_is_complete_or_refused():
    """The comparison of architectures covers the registry: each one is tested for
    completeness here or refused (with smp's defaults) for every encoder family."""
    refused = {r.architecture for r in REFUSED if not r.settings and "resnet18" in r.encoders}
    for name in ARCHITECTURES.names():
        assert (name in COMPLETE) != (name in refused), name
        assert name in refused or name in CUT_AND_BYPASSED, name


@pytest.mark.parametrize(("arch", "encoder"), ARCH_ENCODERS)
def test_deeplift_completeness_of_each_architecture(arch, encoder):
    """Σφ = f(x) − f(x₀) within 1e-3 on the Captum-safe model (zeros and blurred baselines),
    and layer DeepLIFT sums to it at a module every path crosses, not at one a skip bypasses."""
    safe = captum_safe(random_smp(arch, encoder), deeplift=True)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    border = torch.zeros(64, 64, dtype=torch.bool)
    border[20:44, 20] = border[20, 20:44] = border[43, 20:44] = True
    f = border_mean_logit(safe, border)
    cut, bypassed = CUT_AND_BYPASSED[arch]
    assert modules_are_cut(safe, cut) and (bypassed is None or not modules_are_cut(safe, bypassed))
    for kind in ("zeros", "blur"):
        x0 = make_baseline(x, kind)
        with torch.no_grad():
            delta = float(f(x) - f(x0))
        assert abs(delta) > 1e-4
        total = float(DeepLift(f).attribute(x, baselines=x0).sum())
        assert abs(total - delta) <= 1e-3 * abs(delta), (kind, total, delta)
        la = LayerDeepLift(f, safe.get_submodule(cut)).attribute(x, baselines=x0)
        assert abs(float(la.sum()) - delta) <= 1e-3 * abs(delta), (kind, cut)


@pytest.mark.parametrize("encoder", ["resnet18", *(pytest.param(e, marks=SLOW) for e in FAMILIES)])
@pytest.mark.parametrize(
    ("arch", "named"),
    [
        ("fpn", ["decoder.seg_blocks.0.block.0.block.1: GroupNorm is not affine in its input"]),
        ("upernet", ["decoder.feature_norms.0: LayerNorm2d is not affine in its input"]),
        (
            "manet",
            [
                "decoder.center.map_softmax: Softmax is a nonlinearity of many inputs",
                "decoder.center (PABBlock): matmul is a product of two functions of the input",
                *(f"decoder.blocks.{k} (MFABBlock): mul is a product" for k in range(4)),
            ],
        ),
    ],
)
def test_refused_architectures_name_the_module_and_the_reason(arch, named, encoder):
    """Refused, and rightly: DeepLift on the Captum-safe copy is not complete there."""
    assert any(r.architecture == arch and encoder in r.encoders for r in REFUSED)
    model = random_smp(arch, encoder)
    safe = captum_safe(model)
    problems = deeplift_blockers(safe)
    assert all(any(p.startswith(n) for p in problems) for n in named), problems
    assert len(problems) == len(named), problems  # nothing else (fpn's MergeBlock is linear)
    with pytest.raises(UnsupportedEncoderError, match=re.escape(named[0])):
        captum_safe(model, deeplift=True)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    f = border_mean_logit(safe, torch.ones(64, 64, dtype=torch.bool))
    with torch.no_grad():
        delta = float(f(x) - f(torch.zeros_like(x)))
    total = float(DeepLift(f).attribute(x, baselines=torch.zeros_like(x)).sum())
    assert abs(total - delta) > 1e-3 * abs(delta)


def test_unet_with_scse_attention_is_refused():
    """Not the default Unet: its scSE gates are products of two functions of the input."""
    model = smp.Unet("resnet18", encoder_weights=None, classes=1, decoder_attention_type="scse")
    assert any(r.architecture == "unet" and "scse" in r.settings for r in REFUSED)
    with pytest.raises(UnsupportedEncoderError, match=re.escape("attention1.attention (SCSE")):
        captum_safe(model.eval(), deeplift=True)


@pytest.mark.parametrize("encoder", ["vgg11_bn", "densenet121"])
def test_deeplabv3plus_without_dilated_encoder_is_not_buildable(encoder):
    assert any(r.architecture == "deeplabv3plus" and encoder in r.encoders for r in REFUSED)
    with pytest.raises(ValueError, match="do not support dilated mode"):
        smp.create_model("deeplabv3plus", encoder_name=encoder, encoder_weights=None, classes=1)


class _Gate(nn.Module):
    """``y · sigmoid(conv(y))`` with ``y = conv(x)``: an attention gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.gate, self.sig = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1), nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return (y * self.sig(self.gate(y))).flatten(1).sum(1)


class _Soft(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.soft, self.b = nn.Conv2d(4, 4, 1), nn.Softmax(dim=1), nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.soft(self.a(x))).flatten(1).sum(1)


def _deeplift_error(f: nn.Module, x: torch.Tensor, x0: torch.Tensor) -> float:
    delta = float(f(x) - f(x0))
    return abs(float(DeepLift(f).attribute(x, baselines=x0).sum()) - delta) / abs(delta)


def test_products_and_softmax_are_reported_and_are_not_exact():
    torch.manual_seed(0)
    gate, soft = _Gate().double(), _Soft().double()
    assert deeplift_blockers(gate) == [
        "<model> (_Gate): mul is a product of two functions of the input (1x); DeepLift "
        "propagates it by its gradient at x, which is not exact"
    ]
    assert deeplift_blockers(soft)[0].startswith("soft: Softmax is a nonlinearity of many inputs")
    x, x0 = torch.randn(1, 2, 3, 3).double(), torch.randn(1, 2, 3, 3).double()
    assert _deeplift_error(gate, x, x0) > 1e-3
    x, x0 = 3 * torch.randn(1, 4, 2, 2).double(), torch.zeros(1, 4, 2, 2).double()
    assert _deeplift_error(soft, x, x0) > 1e-3


def test_products_with_a_constant_and_groupnorm_paths():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.register_buffer("w", torch.full((1, 4, 1, 1), 0.5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) * self.w / 2.0

    assert deeplift_blockers(Scaled()) == []
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.GroupNorm(2, 4), nn.ReLU())
    (problem,) = deeplift_blockers(net)
    assert problem.startswith("1: GroupNorm is not affine in its input")
