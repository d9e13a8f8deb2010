"""Infidelity of layer maps in the layer's own activation space (resolution-independent).

A layer map ``L`` (h, w) is the channel sum of an attribution ``Φ`` (C_l, h, w) to the layer's
output ``A``. The paper's convention (``paper_bilinear``, :mod:`seginterp.evaluate.infidelity`)
upsamples it to the input and copies it onto every input channel, multiplying its total by
``(H/h)² · C``. Convention ``activation`` perturbs the layer's output by ``ε_k`` (h, w), the same
value on every channel of a location (``A − ε_k ⊗ 1_C``), recomputes the rest of the network
(skip connections included) through a forward hook, and compares

- ``a_k = ⟨L, ε_k⟩ = ⟨Φ, ε_k ⊗ 1_C⟩`` (exact for the channel-summed map) with
- ``b_k = f(A) − f(A − ε_k ⊗ 1_C)``,

with the formulas of the input space (:func:`~seginterp.evaluate.infidelity.infidelity_scores`).
``ε_k ~ N(0, σ_l²)`` i.i.d. per location, with ``σ_l = σ · rms(A) / rms(x)`` (the input's
noise-to-signal ratio). To first order the channel-summed gradient ``Σ_c ∂f/∂A_c`` scores skill 1
at every layer (tested). Draws are seeded per (image, layer) and shared by every map of that
layer. Each record carries the layer's ceiling (``ceiling_infidelity``): that gradient scored on
the same draws (the best score to first order in ``σ``, not a bound).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seginterp.evaluate.functions import flat_weights, image_seed, mean_logits
from seginterp.evaluate.infidelity import (
    ScoredMap,
    infidelity_scores,
    projections,
    records_of,
    standard_noise,
)

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
def layer_outputs(model: nn.Module, x: Tensor, modules: dict[str, nn.Module]) -> dict[str, Tensor]:
    """Each module's output (1, C, h, w) for the input ``x`` (1, C, H, W), from one forward."""
    seen: dict[str, list[Tensor]] = {name: [] for name in modules}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, k=name: seen[k].append(out.detach()))
        for name, m in modules.items()
    ]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    for name, outs in seen.items():
        if len(outs) != 1:
            raise ValueError(f"layer {name} ran {len(outs)} times in one forward; expected once")
    return {name: outs[0] for name, outs in seen.items()}


def layer_gradients(
    model: nn.Module, x: Tensor, modules: dict[str, nn.Module], weights: Tensor
) -> dict[str, Tensor]:
    """The channel-summed gradient ``Σ_c ∂f_j/∂A_c`` of each pixel-weight function at each layer.

    Args:
        model: logits model, eval mode; ``modules``: layer name -> module, each run once.
        x: (1, C, H, W) input.
        weights: (m, H, W) pixel weights of the functions ``f_j = Σ w_j · logits``.

    Returns:
        layer name -> (m, h, w) float64 on the CPU.
    """
    seen: dict[str, Tensor] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, k=name: seen.__setitem__(k, out))
        for name, m in modules.items()
    ]
    try:
        with torch.enable_grad():
            logits = model(x.detach().requires_grad_(True))[0, 0].to(torch.float64)
            outs = [seen[k] for k in modules]
            w = weights.to(device=logits.device, dtype=torch.float64)
            grads: dict[str, list[Tensor]] = {k: [] for k in modules}
            for j in range(len(w)):
                g = torch.autograd.grad((logits * w[j]).sum(), outs, retain_graph=j + 1 < len(w))
                for k, gk in zip(modules, g, strict=True):
                    grads[k].append(gk[0].to(torch.float64).sum(0).cpu())
    finally:
        for h in handles:
            h.remove()
    return {k: torch.stack(v) for k, v in grads.items()}


def _batch_sizes(value: Any, out: set[int]) -> None:
    if isinstance(value, Tensor) and value.ndim:
        out.add(value.shape[0])
    elif isinstance(value, list | tuple):
        for v in value:
            _batch_sizes(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _batch_sizes(v, out)


def _expand(value: Any, n: int) -> Any:
    if isinstance(value, Tensor):
        return value.expand(n, *value.shape[1:]) if value.ndim and value.shape[0] == 1 else value
    if isinstance(value, list | tuple):
        return type(value)(_expand(v, n) for v in value)
    if isinstance(value, dict):
        return {k: _expand(v, n) for k, v in value.items()}
    return value


@contextlib.contextmanager
def broadcast_batch(model: nn.Module, n: int, within: Sequence[nn.Module] = ()) -> Iterator[None]:
    """While active, a module of ``model`` called with batch-1 and batch-``n`` tensors together
    gets the batch-1 ones expanded (a view) to ``n``; a module of ``within`` gets every batch-1
    input expanded.

    A forward of one input (1, C, H, W) whose layer ``M`` returns n perturbed outputs then
    computes what does not depend on ``M`` once, at batch 1, and what does at batch n: the
    partial forwards of :func:`layer_deltas`. ``within`` serves models that mix ``M``'s output
    with other tensors in a parent's own forward (UNet++'s decoder): the parents of ``M`` run at
    batch n. With ``within=(model,)`` the forward is a full one.
    """
    inside = set(within)

    def hook(m: nn.Module, args: Any, kwargs: Any) -> Any:
        sizes: set[int] = set()
        _batch_sizes((args, kwargs), sizes)
        if 1 in sizes and (m in inside or sizes == {1, n}):
            return _expand(args, n), _expand(kwargs, n)
        return None

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in model.modules()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _parents(model: nn.Module, module: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that contain ``module``, the model itself excluded."""
    path = next(name for name, m in model.named_modules() if m is module)
    parts = path.split(".")
    return [model.get_submodule(".".join(parts[:i])) for i in range(1, len(parts))]


@torch.no_grad()
def layer_deltas(
    model: nn.Module,
    x: Tensor,
    module: nn.Module,
    noise: Tensor,
    weights: Tensor,
    batch_size: int = 25,
    fx: Tensor | None = None,
) -> Tensor:
    """``Δf_k = f(x) − f(x; A − ε_k)`` for several pixel-weight functions at once.

    The perturbed forwards are partial (:func:`broadcast_batch`): what does not depend on the
    layer is computed once per batch. The first plan whose forward of two draws matches full
    forwards is used: broadcast where inputs mix, then the layer's parents at batch b; else
    full forwards, with a warning.

    Args:
        model: logits model, eval mode; ``module`` one of its layers.
        x: (1, C, H, W) input.
        noise: (n, 1, h, w) perturbations ``ε`` of the layer output (broadcast over channels).
        weights: (m, H, W) pixel weights of the functions.
        batch_size: perturbed forwards per batch.
        fx: (m,) ``f(x)`` of the functions when the caller has it (one forward per image, not
            per layer); computed here when None.

    Returns:
        (n, m) float64 on the CPU.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    w = flat_weights(weights, x.device)  # (m, HW)
    holder = [torch.zeros(())]

    def f(eps: Tensor, within: Sequence[nn.Module]) -> Tensor:
        holder[0] = eps.to(x)
        with broadcast_batch(model, len(eps), within):
            return mean_logits(model, x, w)  # (b, m)

    if fx is None:
        fx = function_values(model, x, weights)
    with subtract_from_output(module, holder):
        within = _plan(f, noise[:2], [(), _parents(model, module)], (model,))
        if within == (model,):
            warnings.warn(
                f"the layer {type(module).__name__}'s output cannot be broadcast through the "
                "model: scoring it with full forwards",
                stacklevel=2,
            )
        deltas = [
            fx - f(noise[i : i + batch_size], within) for i in range(0, len(noise), batch_size)
        ]
    return torch.cat(deltas).cpu()


@torch.no_grad()
def function_values(model: nn.Module, x: Tensor, weights: Tensor) -> Tensor:
    """(m,) float64 ``f_j(x) = Σ w_j · logits`` of the pixel weights ``weights`` (m, H, W)."""
    return mean_logits(model, x, flat_weights(weights, x.device))[0]


def _plan(
    f: Any, probe: Tensor, plans: list[Sequence[nn.Module]], full: Sequence[nn.Module]
) -> Sequence[nn.Module]:
    """The first of ``plans`` whose ``f`` of ``probe`` (2 draws) runs and matches, on the first
    draw, a full forward of it."""
    want = f(probe[:1], full)
    for within in plans:
        try:
            got = f(probe, within)
        except RuntimeError:
            continue  # this plan mixes batch sizes where the model cannot: try the next
        if got.shape[0] == len(probe) and torch.allclose(got[:1], want, rtol=1e-5, atol=1e-7):
            return within
    return full


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
        skill_normalized, map_l2, proj_rms_ratio, perturb_std, ceiling_infidelity,
        ceiling_infidelity_normalized}`` (the ceiling: the layer's channel-summed gradient of the
        map's function on the same draws).
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
    outputs = layer_outputs(model, x, {layer: modules[layer] for layer in by_layer})
    every = list(dict.fromkeys(m.function for m in maps))
    every_weights = torch.stack([f.weights for f in every])
    gradients = layer_gradients(model, x, {k: modules[k] for k in by_layer}, every_weights)
    fx_every = function_values(model, x, every_weights)  # (m,): shared by every layer
    for layer, group in by_layer.items():
        module = modules[layer]
        a_rms = float(outputs[layer].double().pow(2).mean().sqrt())
        shape = (1, *group[0].attr.shape)
        if any(tuple(m.attr.shape) != shape[1:] for m in group):
            raise ValueError(f"maps of layer {layer} differ in shape")
        functions = list(dict.fromkeys(m.function for m in group))
        weights = torch.stack([f.weights for f in functions])
        std = standard_noise(shape, n_perturb_samples, image_seed(seed, layer))
        for sigma in sigmas:
            scale = float(sigma) * a_rms / x_rms
            noise = std * scale
            rows = [every.index(f) for f in functions]
            delta = layer_deltas(model, x, module, noise, weights, batch_size, fx_every[rows])
            ref = gradients[layer][rows]  # (m, h, w)
            ceiling = infidelity_scores(projections(ref, noise), delta.T)
            b = delta[:, [functions.index(m.function) for m in group]].T  # (k, n)
            for r in records_of(group, noise, b, float(sigma), scale):
                j = functions.index(next(m.function for m in group if m.key == r["key"]))
                records.append({**r, "ceiling_infidelity": float(ceiling["infidelity"][j]),
                                "ceiling_infidelity_normalized":
                                    float(ceiling["infidelity_normalized"][j])})  # fmt: skip
    return records
