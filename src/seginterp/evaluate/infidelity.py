"""Infidelity (Yeh et al. 2019) of border explanations, with perturbations shared across maps.

A map is scored against the function it explains (:mod:`seginterp.evaluate.functions`).
Infidelity is computed the way ``captum.metrics.infidelity`` does with a perturbation function that
returns ``(I, x − I)`` for Gaussian noise ``I ~ N(0, σ²)`` (``multiply_by_inputs`` off):

- ``a_k = ⟨Φ, I_k⟩``, ``b_k = f(x) − f(x − I_k)`` for the ``n`` draws ``k``;
- ``normalize=False``: ``INFD = mean_k (a_k − b_k)²``;
- ``normalize=True``: ``β = Σ a_k b_k / Σ a_k²`` (Captum's ``safe_div``: β = 0 for an all-zero
  map), ``INFD = mean_k (β a_k − b_k)²`` — the best scalar rescaling of the map;
- the all-zero map scores ``E[Δf²] = mean_k b_k²`` under both settings; ``skill = 1 − INFD/E[Δf²]``.
  With ``normalize=True`` skill is the uncentred R² of ``b`` on ``a``; a map whose projections are
  unrelated to ``b`` reaches ``1/n`` on average (:func:`chance_skill`), not 0.

The draws ``I_k`` depend only on the image and σ (seeded from ``(seed, image id)``; the standard
normal draws are shared across σ and scaled): ``b`` is computed once per image and σ and reused for
every map. Layer maps ``L`` (H, W), already channel-summed and upsampled to the input, are
broadcast to the input channels: ``Φ_c = L`` for every channel ``c``, so ``⟨Φ, I⟩ =
Σ_{h,w} L[h,w] Σ_c I_c[h,w]``. This convention fixes the map's scale for ``normalize=False``;
``normalize=True`` is invariant to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seginterp.evaluate.functions import ScoredFunction, flat_weights, mean_logits
from seginterp.explain.store import MapKey


def standard_noise(shape: tuple[int, ...], n: int, seed: int) -> Tensor:
    """(n, *shape) float32 standard normal draws from a CPU generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn((n, *shape), generator=gen, dtype=torch.float32)


@torch.no_grad()
def perturbed_deltas(
    model: nn.Module, x: Tensor, noise: Tensor, weights: Tensor, batch_size: int = 25
) -> tuple[Tensor, Tensor]:
    """``f(x)`` and ``Δf_k = f(x) − f(x − I_k)`` for several pixel-weight functions at once.

    Args:
        model: logits model (B, C, H, W) -> (B, 1, H, W), eval mode.
        x: (1, C, H, W) input.
        noise: (n, C, H, W) perturbations ``I``.
        weights: (m, H, W) pixel weights ``W_j`` (:attr:`ScoredFunction.weights`), one per
            function.
        batch_size: perturbed inputs per forward.

    Returns:
        ``f(x)`` (m,) float64 and ``Δf`` (n, m) float64.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    if noise.shape[1:] != x.shape[1:]:
        raise ValueError(f"noise {tuple(noise.shape)} does not match x {tuple(x.shape)}")
    if weights.ndim != 3 or weights.shape[1:] != x.shape[-2:]:
        raise ValueError(f"weights must be (m, H, W) with H, W of x, got {tuple(weights.shape)}")
    w = flat_weights(weights, x.device)  # (m, HW)
    fx = mean_logits(model, x, w)[0]
    out = [fx - mean_logits(model, x - noise[i : i + batch_size].to(x), w)
           for i in range(0, len(noise), batch_size)]  # fmt: skip
    return fx.cpu(), torch.cat(out).cpu()


def projections(maps: Tensor, noise: Tensor) -> Tensor:
    """``a[j, k] = ⟨Φ_j, I_k⟩`` in float64.

    Args:
        maps: (k, C, H, W) model maps or (k, H, W) layer maps (broadcast over C, module doc).
        noise: (n, C, H, W).

    Returns:
        (k, n) float64.
    """
    b = noise.to(device=maps.device, dtype=torch.float64)
    if maps.ndim == 3:  # layer maps: ⟨L ⊗ 1_C, I⟩ = ⟨L, Σ_c I_c⟩
        b = b.sum(dim=1)
    elif maps.ndim != 4 or maps.shape[1] != noise.shape[1]:
        raise ValueError(f"maps {tuple(maps.shape)} do not match noise {tuple(noise.shape)}")
    if maps.shape[-2:] != noise.shape[-2:]:
        raise ValueError(f"maps {tuple(maps.shape)} do not match noise {tuple(noise.shape)}")
    a = maps.to(torch.float64).flatten(1)
    return (a @ b.flatten(1).T).cpu()


def infidelity_scores(proj: Tensor, delta: Tensor) -> dict[str, Tensor]:
    """Captum's infidelity for several maps sharing the same draws, both settings.

    Args:
        proj: (k, n) projections ``a`` (:func:`projections`).
        delta: (n,) or (k, n) function changes ``b`` (per map when maps explain different
            functions).

    Returns:
        dict of (k,) float64: ``infidelity`` (normalize=False), ``infidelity_normalized``,
        ``beta`` (the normalize rescaling), ``zero`` (``E[Δf²]``), ``skill``, ``skill_normalized``.
    """
    a = proj.to(torch.float64)
    b = delta.to(torch.float64)
    if b.ndim == 1:
        b = b.unsqueeze(0).expand_as(a)
    if a.shape != b.shape:
        raise ValueError(f"projections {tuple(a.shape)} and deltas {tuple(b.shape)} differ")
    n = a.shape[1]
    saa, sab, sbb = (a * a).sum(1), (a * b).sum(1), (b * b).sum(1)
    beta = sab / torch.where(saa == 0, torch.ones_like(saa), saa)  # Captum safe_div
    raw = ((a - b) ** 2).sum(1) / n
    norm = (beta * beta * saa - 2 * beta * sab + sbb) / n
    zero = sbb / n
    safe_zero = torch.where(zero == 0, torch.ones_like(zero), zero)
    nan = torch.full_like(zero, float("nan"))
    return {
        "infidelity": raw,
        "infidelity_normalized": norm,
        "beta": beta,
        "zero": zero,
        "skill": torch.where(zero == 0, nan, 1 - raw / safe_zero),
        "skill_normalized": torch.where(zero == 0, nan, 1 - norm / safe_zero),
    }


def chance_skill(n_perturb_samples: int, normalize: bool) -> float:
    """Expected skill of a map unrelated to ``f``: 0 unnormalized, ``1/n`` normalized.

    With ``normalize=True`` skill is the squared cosine between ``a`` and ``b`` in R^n; for ``a``
    isotropic and independent of ``b`` it is Beta(1/2, (n−1)/2) with mean ``1/n``.
    """
    return 1.0 / n_perturb_samples if normalize else 0.0


@dataclass(frozen=True)
class ScoredMap:
    """One map to score: its key, the map (C, H, W) or (H, W), and the function it explains."""

    key: MapKey
    attr: Tensor
    function: ScoredFunction


def score_maps(
    model: nn.Module,
    x: Tensor,
    maps: Iterable[ScoredMap],
    sigmas: Iterable[float],
    n_perturb_samples: int,
    seed: int,
    batch_size: int = 25,
    functions: Sequence[ScoredFunction] | None = None,
) -> list[dict[str, Any]]:
    """Infidelity of every map of one image, sharing the perturbed forwards across maps.

    Args:
        model: logits model, eval mode, on ``x``'s device.
        x: (1, C, H, W) input in [0, 1].
        maps: the maps of this image.
        sigmas: Gaussian σ values.
        n_perturb_samples: draws per σ.
        seed: this image's seed (:func:`~seginterp.evaluate.functions.image_seed`).
        batch_size: perturbed inputs per forward.
        functions: the functions whose changes the forwards compute, in this order (default: the
            maps' functions in order of first use); every map's function must be one of them.

    Returns:
        one record per (σ, map): ``{sigma, key, infidelity, infidelity_normalized, beta, zero,
        skill, skill_normalized, map_l2, proj_rms_ratio, perturb_std}``.
    """
    maps = list(maps)
    if not maps:
        return []
    functions = list(dict.fromkeys(m.function for m in maps) if functions is None else functions)
    column = {f: j for j, f in enumerate(functions)}
    if any(m.function not in column for m in maps):
        raise ValueError("every map's function must be one of `functions`")
    weights = torch.stack([f.weights for f in functions])
    shape = tuple(x.shape[1:])
    std = standard_noise(shape, n_perturb_samples, seed)
    model_maps = [m for m in maps if m.attr.ndim == 3]
    layer_maps = [m for m in maps if m.attr.ndim == 2]
    if len(model_maps) + len(layer_maps) != len(maps):
        raise ValueError("every map must be (C, H, W) or (H, W)")
    records: list[dict[str, Any]] = []
    for sigma in sigmas:
        noise = std * float(sigma)
        _, delta = perturbed_deltas(model, x, noise, weights, batch_size)  # (n, m)
        for group in (model_maps, layer_maps):
            if group:
                fn = torch.tensor([column[m.function] for m in group])
                # layer maps count once per channel under the convention
                factor = float(np.sqrt(noise.shape[1])) if group is layer_maps else 1.0
                records += records_of(group, noise, delta[:, fn].T, float(sigma), float(sigma),
                                      factor)  # fmt: skip
    return records


def records_of(
    group: Sequence[ScoredMap],
    noise: Tensor,
    delta: Tensor,
    sigma: float,
    perturb_std: float,
    l2_factor: float = 1.0,
) -> list[dict[str, Any]]:
    """One record per map of ``group`` (all of one shape): its scores
    (:func:`infidelity_scores`) on the draws ``noise`` (n, ...), ``map_l2`` (× ``l2_factor``),
    ``proj_rms_ratio`` and the noise std ``perturb_std``; ``delta`` (k, n) the changes of each
    map's ``f``.
    """
    stacked = torch.stack([torch.as_tensor(m.attr) for m in group]).to(torch.float32)
    proj = projections(stacked, noise)
    scores = infidelity_scores(proj, delta)
    l2 = stacked.to(torch.float64).flatten(1).norm(dim=1) * l2_factor
    ratio = proj_rms_ratio(proj, delta)
    return [
        {
            "sigma": sigma,
            "key": m.key,
            **{k: float(v[j]) for k, v in scores.items()},
            "map_l2": float(l2[j]),
            "proj_rms_ratio": float(ratio[j]),
            "perturb_std": perturb_std,
        }
        for j, m in enumerate(group)
    ]


def proj_rms_ratio(proj: Tensor, delta: Tensor) -> Tensor:
    """``rms_k a_k / rms_k b_k`` per map: (k, n) projections, (k, n) changes -> (k,) float64.

    A map with ratio ``r`` has unnormalized skill ``|skill| <= 2r + r²`` (Cauchy–Schwarz): a
    *tiny* map (``r`` << 1) scores ≈ 0 whatever it shows, which says nothing about its pattern.
    """
    a, b = proj.to(torch.float64), delta.to(torch.float64)
    return a.pow(2).mean(1).sqrt() / b.pow(2).mean(1).sqrt().clamp_min(1e-300)
