"""Guided Grad-CAM (as Captum's ``GuidedGradCam``), mean over the explained pixels.

Per pixel ``q``: Guided Backprop of ``z_q`` times the per-pixel ReLU Grad-CAM of ``z_q`` at
``guided_gradcam_layer``, upsampled to the input by ``nearest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from seginterp.explain.exact import Chunk, ExactRule
from seginterp.explain.methods.base import Method
from seginterp.explain.methods.layer_gradcam import relu_cam

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig


def _exact(cfg: AttributeConfig, _layer: str | None) -> ExactRule:
    cam_layer = cfg.guided_gradcam_layer

    def per_pixel(chunk: Chunk) -> torch.Tensor:
        up = F.interpolate(relu_cam(chunk, cam_layer), size=chunk.size, mode="nearest")
        return chunk.guided * up  # (k, C, H, W)

    return ExactRule(per_pixel, layers=(cam_layer,), guided=True)


METHOD = Method(
    name="guided_gradcam",
    description="Guided Grad-CAM (Captum: ReLU per pixel, nearest upsampling), "
    "mean over border pixels",
    variant=lambda cfg: f"layer={cfg.guided_gradcam_layer}, relu per pixel, nearest",
    exact=_exact,
)
