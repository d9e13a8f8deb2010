"""Method specs: name, level, linearity, the variant stored with each map, one-pass Captum call.

One-pass methods run Captum on ``f`` (the border-mean logit): exact by linearity (DESIGN §2).
Model-level one-pass calls map (B, C, H, W) -> (B, C, H, W); layer-level ones return the
channel-summed layer map (B, 1, h, w).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from captum.attr import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    LayerDeepLift,
    LayerGradCam,
    Saliency,
)
from torch import nn

if TYPE_CHECKING:
    from .config import AttributeConfig

ModelOnePass = Callable[[nn.Module, torch.Tensor, torch.Tensor, "AttributeConfig"], torch.Tensor]
LayerOnePass = Callable[
    [nn.Module, nn.Module, torch.Tensor, torch.Tensor, "AttributeConfig"], torch.Tensor
]


@dataclass(frozen=True)
class MethodSpec:
    """One attribution method.

    ``linear(cfg)`` says whether the backward rule is linear in the output cotangent for this
    config (then ``one_pass`` is exact); ``variant(cfg)`` names the Captum choices for the stored
    row (e.g. signed saliency, Grad-CAM ReLU, baseline).
    """

    name: str
    level: Literal["model", "layer"]
    description: str
    linear: Callable[[AttributeConfig], bool]
    variant: Callable[[AttributeConfig], str]
    one_pass: ModelOnePass | LayerOnePass | None = None


def _always(_cfg: AttributeConfig) -> bool:
    return True


def _never(_cfg: AttributeConfig) -> bool:
    return False


# --- model-level one-pass calls: (f, x, baseline, cfg) -> (B, C, H, W)


def _saliency(f: nn.Module, x: torch.Tensor, _b: torch.Tensor, _c: AttributeConfig) -> torch.Tensor:
    return Saliency(f).attribute(x, abs=False)


def _ixg(f: nn.Module, x: torch.Tensor, _b: torch.Tensor, _c: AttributeConfig) -> torch.Tensor:
    return InputXGradient(f).attribute(x)


def _ig(f: nn.Module, x: torch.Tensor, b: torch.Tensor, cfg: AttributeConfig) -> torch.Tensor:
    return IntegratedGradients(f).attribute(
        x, baselines=b, n_steps=cfg.ig_steps, internal_batch_size=cfg.chunk_size
    )


def _deeplift(f: nn.Module, x: torch.Tensor, b: torch.Tensor, _c: AttributeConfig) -> torch.Tensor:
    return DeepLift(f).attribute(x, baselines=b)


# --- layer-level one-pass calls: (f, layer, x, baseline, cfg) -> (B, 1, h, w)


def _layer_gradcam(
    f: nn.Module, layer: nn.Module, x: torch.Tensor, _b: torch.Tensor, _c: AttributeConfig
) -> torch.Tensor:
    return LayerGradCam(f, layer).attribute(x, relu_attributions=False)


def _layer_deeplift(
    f: nn.Module, layer: nn.Module, x: torch.Tensor, b: torch.Tensor, _c: AttributeConfig
) -> torch.Tensor:
    a = LayerDeepLift(f, layer).attribute(x, baselines=b)
    return a.sum(dim=1, keepdim=True)


MODEL_SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "saliency",
        "model",
        "gradient of f (Captum Saliency, abs=False: signed, linear)",
        _always,
        lambda c: "signed (abs=False)",
        _saliency,
    ),
    MethodSpec(
        "input_x_gradient",
        "model",
        "input × gradient of f",
        _always,
        lambda c: "",
        _ixg,
    ),
    MethodSpec(
        "integrated_gradients",
        "model",
        "Integrated Gradients of f",
        _always,
        lambda c: f"baseline={c.deeplift_baseline}, n_steps={c.ig_steps}, gausslegendre",
        _ig,
    ),
    MethodSpec(
        "deeplift",
        "model",
        "DeepLIFT (Rescale) of f",
        _always,
        lambda c: f"rescale, baseline={c.deeplift_baseline}",
        _deeplift,
    ),
    MethodSpec(
        "guided_backprop",
        "model",
        "Guided Backprop, mean over border pixels (nonlinear: exact or sampled)",
        _never,
        lambda c: "",
    ),
    MethodSpec(
        "guided_gradcam",
        "model",
        "Guided Grad-CAM (Captum: ReLU per pixel, nearest upsampling), mean over border pixels",
        _never,
        lambda c: f"layer={c.guided_gradcam_layer}, relu per pixel, nearest",
    ),
)

LAYER_SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        "gradcam",
        "layer",
        "Grad-CAM at a layer; gradcam_relu=false: no ReLU (linear, one pass), "
        "true: the paper's per-pixel ReLU (exact mean)",
        lambda c: not c.gradcam_relu,
        lambda c: "relu per pixel" if c.gradcam_relu else "no relu (relu_attributions=False)",
        _layer_gradcam,
    ),
    MethodSpec(
        "deeplift",
        "layer",
        "layer DeepLIFT (Rescale) of f, summed over channels",
        _always,
        lambda c: f"rescale, baseline={c.deeplift_baseline}, channel sum",
        _layer_deeplift,
    ),
)
