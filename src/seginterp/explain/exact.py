"""Exact per-pixel means for nonlinear methods: shared forwards, batched one-hot cotangents.

For pixels ``Q`` (all border pixels, or a seeded sample) and a method ``φ`` that is not linear in
the output cotangent, ``Φ(x) = (1/|Q|) Σ_{q∈Q} φ(x; z_q)``. Each map declares an
:class:`ExactRule`: which layers' activation gradients it reads, whether it reads the guided
input gradient, and how it builds ``φ(x; z_q)`` from them. :func:`exact_maps` builds at most two
graphs for all requested maps together:

- a plain forward, capturing the activations at every layer any rule reads;
- a guided forward (every ``nn.ReLU`` backward becomes ``(x > 0) · max(g, 0)``, the rule of
  Captum's ``GuidedBackprop``), when any rule reads the guided input gradient.

Chunks of one-hot cotangents go back through them with ``torch.autograd.grad(...,
is_grads_batched=True)`` (vmap over the backward), ``chunk_size`` at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Chunk:
    """``k`` one-hot cotangents (pixels ``q``) pushed back through the shared forwards.

    ``acts``: layer -> (1, C, h, w) activation of the plain forward (detached); ``grads``:
    layer -> (k, 1, C, h, w) ``∂z_q/∂A`` of each pixel; ``size``: the input's (H, W).
    """

    acts: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]
    size: tuple[int, int]
    guided_grad: torch.Tensor | None = None
    _shared: dict[Hashable, torch.Tensor] = field(default_factory=dict)

    @property
    def guided(self) -> torch.Tensor:
        """(k, C, H, W) Guided Backprop input gradient of each ``z_q``."""
        if self.guided_grad is None:
            raise RuntimeError("the guided gradient was not computed: set ExactRule.guided")
        return self.guided_grad

    def shared(self, key: Hashable, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` once per chunk for ``key`` (a value several maps read)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


@dataclass(frozen=True)
class ExactRule:
    """A nonlinear map as the mean of per-pixel maps.

    ``per_pixel(chunk)`` -> (k, ...) the map of each pixel of the chunk; ``layers``: the layers
    whose activations and gradients it reads; ``guided``: whether it reads ``chunk.guided``.
    """

    per_pixel: Callable[[Chunk], torch.Tensor]
    layers: tuple[str, ...] = ()
    guided: bool = False


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
def forward_hooks(hooks: Mapping[nn.Module, Callable[..., Any]]) -> Iterator[None]:
    """Register each module's forward hook for the duration of the context."""
    handles = []
    try:
        for module, hook in hooks.items():
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context every ``nn.ReLU`` of ``model`` outputs through :class:`GuidedReLU`."""

    def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> torch.Tensor:
        return GuidedReLU.apply(inputs[0])

    with forward_hooks({m: hook for m in model.modules() if type(m) is nn.ReLU}):
        yield model


@contextlib.contextmanager
def capture_outputs(modules: Mapping[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Collect each module's forward output (last call) under its name."""
    store: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            store[name] = out

        return hook

    with forward_hooks({m: keep(name) for name, m in modules.items()}):
        yield store


@dataclass
class _Forwards:
    """The shared graphs: a plain forward with the activations at ``names``, a guided forward."""

    names: list[str]
    acts: list[torch.Tensor]
    z_plain: torch.Tensor | None  # (H*W,) logits of the plain forward
    xg: torch.Tensor | None  # (1, C, H, W) input of the guided forward
    z_guided: torch.Tensor | None  # (H*W,) logits of the guided forward

    @classmethod
    def build(
        cls, model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module], guided: bool
    ) -> _Forwards:
        acts: list[torch.Tensor] = []
        z_plain = z_guided = xg = None
        if layers:
            with capture_outputs(layers) as store:
                z_plain = model(x)[:, 0].flatten()
            acts = [store[n] for n in layers]
        if guided:
            xg = x.detach().clone().requires_grad_(True)
            with guided_relus(model):
                z_guided = model(xg)[:, 0].flatten()
        return cls(list(layers), acts, z_plain, xg, z_guided)

    def backward(self, cot: torch.Tensor, size: tuple[int, int]) -> Chunk:
        """The chunk of cotangents ``cot`` (k, H*W) through both graphs."""
        chunk = Chunk(acts={}, grads={}, size=size)
        if self.z_plain is not None:
            grads = torch.autograd.grad(
                self.z_plain, self.acts, grad_outputs=cot, is_grads_batched=True, retain_graph=True
            )
            chunk.acts = {n: a.detach() for n, a in zip(self.names, self.acts, strict=True)}
            chunk.grads = dict(zip(self.names, grads, strict=True))
        if self.z_guided is not None and self.xg is not None:
            (g,) = torch.autograd.grad(
                self.z_guided, self.xg, grad_outputs=cot, is_grads_batched=True, retain_graph=True
            )
            chunk.guided_grad = g[:, 0]  # (k, C, H, W)
        return chunk


def exact_maps(
    model: nn.Module,
    x: torch.Tensor,
    pixels: torch.Tensor,
    rules: Sequence[ExactRule],
    layers: Mapping[str, nn.Module],
    *,
    chunk_size: int = 64,
) -> list[torch.Tensor]:
    """Mean over ``pixels`` of each rule's per-pixel maps, all in one pass over the chunks.

    Args:
        model: logits model (B, C, H, W) -> (B, 1, H, W), Captum-safe (one module per ReLU site).
        x: (1, C, H, W) input.
        pixels: (k,) long, flat indices ``row * W + col`` of the explained pixels.
        rules: the maps to compute.
        layers: name -> module for every layer the rules read.
        chunk_size: cotangents per batched backward.

    Returns:
        one detached map per rule, in order: (1, ...) the shape of its per-pixel maps.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    if pixels.ndim != 1 or pixels.numel() == 0:
        raise ValueError("pixels must be a non-empty 1-D tensor of flat indices")
    names = list(dict.fromkeys(n for r in rules for n in r.layers))
    missing = [n for n in names if n not in layers]
    if missing:
        raise ValueError(f"no module given for layer(s) {missing}")
    size = (x.shape[-2], x.shape[-1])
    pixels = pixels.to(x.device)
    sums: dict[int, torch.Tensor] = {}
    with torch.enable_grad():
        graphs = _Forwards.build(
            model, x, {n: layers[n] for n in names}, any(r.guided for r in rules)
        )
        for start in range(0, pixels.numel(), chunk_size):
            idx = pixels[start : start + chunk_size]
            k = idx.numel()
            cot = torch.zeros(k, size[0] * size[1], dtype=x.dtype, device=x.device)
            cot[torch.arange(k, device=x.device), idx] = 1.0
            chunk = graphs.backward(cot, size)
            for i, rule in enumerate(rules):
                value = rule.per_pixel(chunk).sum(dim=0, keepdim=True)
                sums[i] = sums[i] + value if i in sums else value
    n = float(pixels.numel())
    return [(sums[i] / n).detach() for i in range(len(rules))]
