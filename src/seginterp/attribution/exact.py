"""Exact per-pixel means for nonlinear methods: one forward, batched cotangents (DESIGN §2).

For pixels ``Q`` (all border pixels, or a seeded sample) and a method ``φ`` that is not linear in
the output cotangent, ``Φ(x) = (1/|Q|) Σ_{q∈Q} φ(x; z_q)``. Each graph is built once; chunks of
one-hot cotangents go through ``torch.autograd.grad(..., is_grads_batched=True)`` (vmap over the
backward), bounded by ``chunk_size``.

- Guided Backprop: the backward of every ``nn.ReLU`` becomes ``(x > 0) · max(g, 0)`` (a vmappable
  ``autograd.Function``), the same rule as Captum's ``GuidedBackprop``.
- Grad-CAM with the per-pixel ReLU (paper Eq. 1): ``relu(Σ_c mean_hw(∂z_q/∂A_c) · A_c)`` at a layer.
- Guided Grad-CAM (as Captum's ``GuidedGradCam``): Guided Backprop of ``z_q`` times the per-pixel
  ReLU Grad-CAM of ``z_q`` at its layer, upsampled to the input by ``nearest``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class GuidedReLU(torch.autograd.Function):
    """``relu`` whose backward passes only positive gradients through positive inputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad.clamp_min(0) * (y > 0).to(grad.dtype)


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context every ``nn.ReLU`` of ``model`` outputs through :class:`GuidedReLU`."""

    def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> torch.Tensor:
        return GuidedReLU.apply(inputs[0])

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) is nn.ReLU]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture_outputs(modules: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Collect each module's forward output (last call) under its name; hooks removed on exit."""
    store: dict[str, torch.Tensor] = {}
    handles = []
    for name, m in modules.items():

        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor, name: str = name) -> None:
            store[name] = out

        handles.append(m.register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def _cam(act: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Per-pixel ReLU Grad-CAM: act (1, C, h, w), grads (k, 1, C, h, w) -> (k, 1, h, w)."""
    alpha = grads.mean(dim=(-2, -1), keepdim=True)  # (k, 1, C, 1, 1)
    return F.relu((alpha * act.unsqueeze(0)).sum(dim=2))


def exact_maps(
    model: nn.Module,
    x: torch.Tensor,
    pixels: torch.Tensor,
    *,
    guided_backprop: bool = False,
    guided_gradcam_layer: tuple[str, nn.Module] | None = None,
    gradcam_layers: dict[str, nn.Module] | None = None,
    chunk_size: int = 64,
) -> dict[str, torch.Tensor]:
    """Mean over ``pixels`` of per-pixel maps, all requested maps in one pass over the chunks.

    Args:
        model: logits model (B, C, H, W) -> (B, 1, H, W), Captum-safe (one module per ReLU site).
        x: (1, C, H, W) input.
        pixels: (k,) long, flat indices ``row * W + col`` of the explained pixels.
        guided_backprop: compute ``guided_backprop`` (1, C, H, W).
        guided_gradcam_layer: (name, module): compute ``guided_gradcam`` (1, C, H, W).
        gradcam_layers: name -> module: compute ``gradcam/<name>`` (1, 1, h, w), per-pixel ReLU.
        chunk_size: cotangents per batched backward.

    Returns:
        dict of the requested maps (detached).
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    if pixels.ndim != 1 or pixels.numel() == 0:
        raise ValueError("pixels must be a non-empty 1-D tensor of flat indices")
    gradcam_layers = dict(gradcam_layers or {})
    cam_modules = dict(gradcam_layers)
    if guided_gradcam_layer is not None:
        cam_modules[guided_gradcam_layer[0]] = guided_gradcam_layer[1]
    need_guided = guided_backprop or guided_gradcam_layer is not None
    n_pix = x.shape[-2] * x.shape[-1]
    pixels = pixels.to(x.device)

    with torch.enable_grad():
        z_plain = acts = None
        if cam_modules:
            with capture_outputs(cam_modules) as store:
                z_plain = model(x)[:, 0].flatten()
            acts = [store[name] for name in cam_modules]
        z_guided = xg = None
        if need_guided:
            xg = x.detach().clone().requires_grad_(True)
            with guided_relus(model):
                z_guided = model(xg)[:, 0].flatten()

        sums: dict[str, torch.Tensor] = {}

        def add(key: str, value: torch.Tensor) -> None:
            sums[key] = sums[key] + value if key in sums else value

        for start in range(0, pixels.numel(), chunk_size):
            idx = pixels[start : start + chunk_size]
            k = idx.numel()
            cot = torch.zeros(k, n_pix, dtype=x.dtype, device=x.device)
            cot[torch.arange(k, device=x.device), idx] = 1.0
            cams: dict[str, torch.Tensor] = {}
            if acts is not None and z_plain is not None:
                grads = torch.autograd.grad(
                    z_plain, acts, grad_outputs=cot, is_grads_batched=True, retain_graph=True
                )
                for name, act, g in zip(cam_modules, acts, grads, strict=True):
                    cams[name] = _cam(act.detach(), g)  # (k, 1, h, w)
                for name in gradcam_layers:
                    add(f"gradcam/{name}", cams[name].sum(dim=0, keepdim=True))
            if z_guided is not None and xg is not None:
                (g,) = torch.autograd.grad(
                    z_guided, xg, grad_outputs=cot, is_grads_batched=True, retain_graph=True
                )
                g = g[:, 0]  # (k, C, H, W)
                if guided_backprop:
                    add("guided_backprop", g.sum(dim=0, keepdim=True))
                if guided_gradcam_layer is not None:
                    cam = cams[guided_gradcam_layer[0]]  # (k, 1, h, w)
                    up = F.interpolate(cam, size=x.shape[-2:], mode="nearest")
                    add("guided_gradcam", (g * up).sum(dim=0, keepdim=True))
    n = float(pixels.numel())
    return {key: (value / n).detach() for key, value in sums.items()}
