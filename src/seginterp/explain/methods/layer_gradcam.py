"""Grad-CAM at a layer.

``gradcam_relu=false``: no ReLU (Captum ``relu_attributions=False``), linear in the cotangent,
one pass on ``f``, read from the shared gradient pass (:data:`~seginterp.explain.passes.GRADIENT`:
one forward and one backward for every layer and the model-level gradient maps).
``gradcam_relu=true``: the paper's ReLU on each pixel's map (Eq. 1),
``relu(Σ_c mean_hw(∂z_q/∂A_c) · A_c)``, averaged exactly over the explained pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam
from torch import nn

from seginterp.explain.exact import Chunk, ExactRule
from seginterp.explain.methods.base import Method
from seginterp.explain.passes import GRADIENT, PassResult, SharedRule

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig


def relu_cam(chunk: Chunk, layer: str) -> torch.Tensor:
    """Per-pixel ReLU Grad-CAM at ``layer`` of each pixel of ``chunk``: (k, 1, h, w).

    Computed once per chunk and layer (Guided Grad-CAM reuses it).
    """

    def compute() -> torch.Tensor:
        grads = chunk.grads[layer]  # (k, 1, C, h, w)
        alpha = grads.mean(dim=(-2, -1), keepdim=True)  # (k, 1, C, 1, 1)
        return F.relu((alpha * chunk.acts[layer].unsqueeze(0)).sum(dim=2))

    return chunk.shared(("relu_cam", layer), compute)


def _one_pass(
    f: nn.Module, x: torch.Tensor, _b: torch.Tensor, _c: AttributeConfig, layer: nn.Module | None
) -> torch.Tensor:
    return LayerGradCam(f, layer).attribute(x, relu_attributions=False)


def cam(result: PassResult, layer: str | None) -> torch.Tensor:
    """Grad-CAM without ReLU at ``layer`` from a gradient pass: ``Σ_c mean_hw(∂f/∂A_c) · A_c``,
    (B, 1, h, w), computed as ``LayerGradCam`` computes it (channel weights taken as the gradient
    itself for a layer output without spatial dims)."""
    if layer is None:
        raise ValueError("layer Grad-CAM needs a layer")
    g, a = result.grads[layer], result.acts[layer]
    alpha = torch.mean(g, dim=tuple(range(2, g.ndim)), keepdim=True) if g.ndim > 2 else g
    return torch.sum(alpha * a, dim=1, keepdim=True)


def _exact(_cfg: AttributeConfig, layer: str | None) -> ExactRule:
    if layer is None:
        raise ValueError("layer Grad-CAM needs a layer")
    return ExactRule(lambda chunk: relu_cam(chunk, layer), layers=(layer,))


METHOD = Method(
    name="gradcam",
    level="layer",
    description="Grad-CAM at a layer; gradcam_relu=false: no ReLU (linear, one pass), "
    "true: the paper's per-pixel ReLU (exact mean)",
    linear=lambda cfg: not cfg.gradcam_relu,
    variant=lambda cfg: (
        "relu per pixel" if cfg.gradcam_relu else "no relu (relu_attributions=False)"
    ),
    one_pass=_one_pass,
    shared=SharedRule(GRADIENT, cam),
    exact=_exact,
)
