"""Where DeepLIFT's completeness holds, and what a layer DeepLIFT map sums to.

DeepLIFT (Rescale) propagates multipliers fixed by ``x`` and the baseline ``x₀`` through a linear
chain rule, so the contributions of the tensors of any *cut* of the model's graph (a set of
tensors that every path from the input to the output crosses) sum to ``Δf = f(x) − f(x₀)``. The
input is a cut: model-level DeepLIFT is complete. A layer is a cut only when no skip connection
bypasses it: in an smp ``Unet`` of depth 5 (resnet*, vgg*_bn, densenet*) that is ``encoder1``,
``decoder4`` and ``decoder5`` (tested). At any layer ``L``::

    Σ map(L) = Δf − Σ_{s ∈ bypass(L)} C_s

where ``bypass(L)`` are the skip inputs of decoder blocks that carry the input around ``L``
(``{L} ∪ bypass(L)`` is a cut) and ``C_s`` is the DeepLIFT contribution of skip ``s`` at the
decoder block it enters (checked for smp ``Unet`` by the helpers of ``tests/explain/skips.py``).

:func:`is_cut` is structural (autograd reachability, no tolerance) and holds for any graph: one
forward in which each layer's output is passed on as a fresh view; the layers are a cut iff the
walk of the autograd graph from the output, stopped at those views, never reaches the input
(:func:`cuts` answers for many layers from one forward). Layer DeepLIFT is
complete at the cuts of any architecture (tested for unetplusplus, deeplabv3plus, linknet,
pspnet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from seginterp.explain.deeplift_check import in_channels
from seginterp.explain.layers import get_layer

PROBE_SIZE = 64
"""Side of the default probe input (any side divisible by 2^depth works; values do not matter)."""


def _probe(model: nn.Module, x: torch.Tensor | None) -> torch.Tensor:
    """``x`` (1, C, H, W), or zeros (1, C, 64, 64) like the parameters, as a leaf needing grad."""
    if x is None:
        p = next(model.parameters())
        side = (PROBE_SIZE, PROBE_SIZE)
        x = torch.zeros(1, in_channels(model), *side, device=p.device, dtype=p.dtype)
    return x.detach().clone().requires_grad_(True)


def cuts(
    model: nn.Module, groups: Sequence[Sequence[str]], x: torch.Tensor | None = None
) -> list[bool]:
    """For each group of layer names: whether every path from the input to the output of
    ``model`` crosses the outputs of the group's layers; one forward of the probe ``x``.

    Each layer's output is passed on as a fresh view, whose autograd node is where the walk from
    the output stops for the groups holding that layer; a group is a cut iff the walk then never
    reaches the input (the same answer as detaching those outputs, which ``tests/explain``
    checks, for every group at the cost of one forward).
    """
    names = list(dict.fromkeys(n for g in groups for n in g))
    xr = _probe(model, x)
    nodes: dict[str, list[object]] = {n: [] for n in names}

    def keep(name: str) -> Callable[..., torch.Tensor]:
        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
            view = out.view_as(out)
            nodes[name].append(view.grad_fn)
            return view

        return hook

    handles = [get_layer(model, n).register_forward_hook(keep(n)) for n in names]
    try:
        with torch.enable_grad():
            y = model(xr)
    finally:
        for h in handles:
            h.remove()
    return [not _walk_reaches(y, xr, [v for n in g for v in nodes[n]]) for g in groups]


def _walk_reaches(y: torch.Tensor, x: torch.Tensor, stop: Sequence[object]) -> bool:
    """Whether the autograd graph of ``y`` reaches the leaf ``x`` without passing a node of
    ``stop``."""
    todo, seen = [y.grad_fn], {id(n): n for n in stop}
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node  # held: an id stays unique while its node lives
        if getattr(node, "variable", None) is x:
            return True
        todo.extend(fn for fn, _ in node.next_functions)
    return False


def is_cut(model: nn.Module, layers: str | Sequence[str], x: torch.Tensor | None = None) -> bool:
    """Whether every path from the input to the output of ``model`` crosses the output of
    ``layers`` (names), found on the probe input ``x`` (1, C, H, W) (:func:`cuts`)."""
    return cuts(model, [[layers] if isinstance(layers, str) else list(layers)], x)[0]
