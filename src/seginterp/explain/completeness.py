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

:func:`is_cut` is structural (autograd reachability, no tolerance) and holds for any graph: a
forward in which the layers' outputs are replaced by detached copies (:func:`detached`, hooks
removed on exit); they are a cut iff the output no longer reaches the input. Layer DeepLIFT is
complete at the cuts of any architecture (tested for unetplusplus, deeplabv3plus, linknet,
pspnet).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

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


def _reaches(y: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether autograd links ``y`` to the leaf ``x`` (a zero gradient still counts)."""
    if not y.requires_grad:
        return False
    return torch.autograd.grad(y.sum(), x, allow_unused=True, retain_graph=True)[0] is not None


@contextlib.contextmanager
def detached(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Within: the output of each of ``modules`` is replaced by a detached copy."""
    handles = [m.register_forward_hook(lambda _m, _i, out: out.detach()) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def is_cut(model: nn.Module, layers: str | Sequence[str], x: torch.Tensor | None = None) -> bool:
    """Whether every path from the input to the output of ``model`` crosses the output of
    ``layers`` (names), found on the probe input ``x`` (1, C, H, W)."""
    names = [layers] if isinstance(layers, str) else list(layers)
    xr = _probe(model, x)
    with detached([get_layer(model, n) for n in names]), torch.enable_grad():
        return not _reaches(model(xr), xr)
