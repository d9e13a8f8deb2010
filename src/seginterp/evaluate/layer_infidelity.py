"""Infidelity of layer maps in the layer's own activation space (resolution-independent).

A layer map ``L`` (h, w) is the channel sum of an attribution ``Φ`` (C_l, h, w) to the layer's
output ``A``. The paper scores it in input space: upsampled bilinearly to the input and copied onto
every input channel (convention ``paper_bilinear``, :mod:`seginterp.evaluate.infidelity`). That
multiplies the map's total by ``(H/h)² · C`` (4 … 1024 × 3 on a depth-5 U-Net), so unnormalized
layer infidelity mostly measures the layer's resolution.

Convention ``activation`` asks the question a layer map answers, at the layer: perturb the
layer's output by ``ε_k`` (h, w), the same value on every channel of a location
(``A − ε_k ⊗ 1_C``), recompute the rest of the network (skip connections included) through a
forward hook, and compare

- ``a_k = ⟨L, ε_k⟩ = ⟨Φ, ε_k ⊗ 1_C⟩`` (exact for the channel-summed map) with
- ``b_k = f(A) − f(A − ε_k ⊗ 1_C)``,

with the formulas of the input space (:func:`~seginterp.evaluate.infidelity.infidelity_scores`).
``ε_k ~ N(0, σ_l²)`` i.i.d. per location, with ``σ_l = σ · rms(A) / rms(x)``: the layer is
perturbed with the noise-to-signal ratio of the input perturbation. The map is never resampled,
so nothing depends on the layer's resolution; to first order the channel-summed gradient
``Σ_c ∂f/∂A_c`` scores skill 1 at every layer (tested). Draws are seeded per (image, layer) and
shared by every map of that layer, so maps at one layer are compared on the same draws.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seginterp.evaluate.functions import ScoredFunction, image_seed
from seginterp.evaluate.infidelity import ScoredMap, projections, records_of, standard_noise

PAPER_BILINEAR = "paper_bilinear"
ACTIVATION = "activation"
CONVENTIONS: dict[str, str] = {
    PAPER_BILINEAR: (
        "the paper's: layer map channel-summed, bilinearly upsampled to the input (its total "
        "grows by (H/h)^2) and copied onto every input channel; Gaussian noise on the input"
    ),
    ACTIVATION: (
        "resolution-independent: the native (h, w) map against noise eps (h, w) subtracted from "
        "every channel of the layer's output (forward hook), sigma_l = sigma * rms(A) / rms(x); "
        "a_k = <L, eps_k>, b_k = f(A) - f(A - eps_k)"
    ),
}


@contextlib.contextmanager
def subtract_from_output(module: nn.Module, noise: list[Tensor]) -> Iterator[None]:
    """While active, ``module``'s output ``A`` (b, C, h, w) becomes ``A − noise[0]``.

    ``noise`` is a one-element list the caller refills before each forward: (b, 1, h, w) (or
    anything broadcasting to ``A``). The hook is removed on exit.
    """

    def hook(_m: nn.Module, _inp: Any, out: Tensor) -> Tensor:
        return out - noise[0].to(out)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def layer_output(model: nn.Module, x: Tensor, module: nn.Module) -> Tensor:
    """``module``'s output (1, C, h, w) for the input ``x`` (1, C, H, W)."""
    seen: list[Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        model(x)
    finally:
        handle.remove()
    if len(seen) != 1:
        raise ValueError(f"the layer ran {len(seen)} times in one forward; expected once")
    return seen[0]


@torch.no_grad()
def layer_deltas(
    model: nn.Module,
    x: Tensor,
    module: nn.Module,
    noise: Tensor,
    weights: Tensor,
    batch_size: int = 25,
) -> Tensor:
    """``Δf_k = f(x) − f(x; A − ε_k)`` for several pixel-weight functions at once.

    Args:
        model: logits model, eval mode; ``module`` one of its layers.
        x: (1, C, H, W) input.
        noise: (n, 1, h, w) perturbations ``ε`` of the layer output (broadcast over channels).
        weights: (m, H, W) pixel weights of the functions.
        batch_size: perturbed forwards per batch.

    Returns:
        (n, m) float64 on the CPU.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    w = weights.to(device=x.device, dtype=torch.float64).flatten(1)  # (m, HW)

    def f(batch: Tensor) -> Tensor:
        return model(batch)[:, 0].flatten(1).to(torch.float64) @ w.T  # (b, m)

    fx = f(x)[0]
    holder = [torch.zeros(())]
    out = []
    with subtract_from_output(module, holder):
        for i in range(0, len(noise), batch_size):
            chunk = noise[i : i + batch_size].to(x)
            holder[0] = chunk
            out.append(fx - f(x.expand(len(chunk), -1, -1, -1)))
    return torch.cat(out).cpu()


def activation_records(
    model: nn.Module,
    x: Tensor,
    maps: Sequence[ScoredMap],
    modules: dict[str, nn.Module],
    sigmas: Sequence[float],
    n_perturb_samples: int,
    seed: int,
    batch_size: int = 25,
) -> list[dict[str, Any]]:
    """Activation-space infidelity of layer maps (module doc), one record per (σ, map).

    Args:
        model: logits model, eval mode, on ``x``'s device.
        x: (1, C, H, W) input in [0, 1].
        maps: layer maps with their native (h, w) map as ``attr`` and ``key.layer`` set.
        modules: layer name -> module of ``model``.
        sigmas: input-space σ values (scaled per layer, module doc).
        n_perturb_samples: draws per σ.
        seed: this image's seed.

    Returns:
        records ``{sigma, key, infidelity, infidelity_normalized, beta, zero, skill,
        skill_normalized, map_l2, proj_rms_ratio, perturb_std}``.
    """
    records: list[dict[str, Any]] = []
    x_rms = float(x.double().pow(2).mean().sqrt())
    if x_rms == 0:
        raise ValueError("the input is all zeros: no noise-to-signal ratio to match")
    by_layer: dict[str, list[ScoredMap]] = {}
    for m in maps:
        if m.key.layer is None or m.attr.ndim != 2:
            raise ValueError(f"{m.key.label}: activation space needs a native (h, w) layer map")
        by_layer.setdefault(m.key.layer, []).append(m)
    for layer, group in by_layer.items():
        module = modules[layer]
        a_rms = float(layer_output(model, x, module).double().pow(2).mean().sqrt())
        shape = (1, *group[0].attr.shape)
        if any(tuple(m.attr.shape) != shape[1:] for m in group):
            raise ValueError(f"maps of layer {layer} differ in shape")
        functions = list(dict.fromkeys(m.function for m in group))
        weights = torch.stack([f.weights for f in functions])
        std = standard_noise(shape, n_perturb_samples, image_seed(seed, layer))
        for sigma in sigmas:
            scale = float(sigma) * a_rms / x_rms
            noise = std * scale
            delta = layer_deltas(model, x, module, noise, weights, batch_size)  # (n, m)
            records += _records(group, functions, noise, delta, float(sigma), scale)
    return records


def _records(
    group: list[ScoredMap],
    functions: list[ScoredFunction],
    noise: Tensor,
    delta: Tensor,
    sigma: float,
    scale: float,
) -> list[dict[str, Any]]:
    """Records of the maps of one layer; ``delta`` (n, m) per function."""
    column = {f: j for j, f in enumerate(functions)}
    stacked = torch.stack([torch.as_tensor(m.attr) for m in group]).to(torch.float32)
    b = delta[:, [column[m.function] for m in group]].T  # (k, n)
    return records_of(group, stacked, projections(stacked, noise), b, sigma, scale)
